a frozen TensorFlow graph, say

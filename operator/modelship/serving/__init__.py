"""The model server that runs inside serving pods (`modelship serve`).

It loads one TensorFlow SavedModel version and answers the TensorFlow Serving REST API, the
Open Inference Protocol (v2), health checks and Prometheus metrics, batching concurrent
requests. Only `model` imports TensorFlow; everything else is plain Python and numpy.
"""

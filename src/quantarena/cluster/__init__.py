"""One plan run on every node of a Ray cluster: the driver prepares the FP32 bundle and the
splits once and ships them through Ray's object store; each node, reserved whole, builds and
measures as a local run does; the driver writes one run folder per platform and the matrix."""

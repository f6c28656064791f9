"""jobctl's tools: the ``jobctl`` command line, and the embedded local stack with its
simulated SageMaker. None of it ships to Lambda: the functions' package is ``jobctl``."""

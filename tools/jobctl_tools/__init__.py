"""jobctl's development tools: the embedded local stack, its runtime and its simulated
SageMaker. None of it ships to Lambda (the functions' package is ``jobctl``), nor to
operators (the command line is ``jobctl_cli``)."""

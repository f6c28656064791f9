"""jobctl: run Amazon SageMaker training and AutoML jobs from a queue."""

__version__ = "0.1.0"

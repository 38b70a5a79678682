"""An offline SageMaker: the SageMaker API (botocore's model is the contract) served on one loopback port.

SageMaker and sagemaker-runtime calls are answered here; every other AWS service (S3, CloudWatch Logs, STS,
IAM) is dispatched to moto's server in-process. Training jobs really train (a subprocess per job) and
endpoints really serve (a loopback inference process per production variant).
"""

DEFAULT_ACCOUNT_ID = "123456789012"

"""Ranker model, task (loss and metrics), Parquet reader and Horovod training loop."""

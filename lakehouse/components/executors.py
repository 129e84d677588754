"""Where a run's steps execute, chosen by ``LAKEHOUSE_EXECUTOR`` (never by editing code).

- ``in_process`` (default): every step in the run's own process; no services needed.
- ``multiprocess``: a process per step on the run's host.
- ``celery``: each step is a Celery task on RabbitMQ (``DAGSTER_CELERY_BROKER_URL``), run by
  whichever worker (``celery -A lakehouse.celery_worker worker``, any host) takes it.
- ``k8s``: a Kubernetes Job per step (dagster-k8s; deploy/k8s/values.yaml).
"""

import dagster as dg

BROKER_ENV = "DAGSTER_CELERY_BROKER_URL"

# A task is acknowledged only when its step has finished, and a worker that dies mid-step
# hands it back: RabbitMQ redelivers the step to another worker.
CELERY_CONFIG = {
    "broker": {"env": BROKER_ENV},
    "backend": "rpc://",
    "config_source": {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
    },
}


def executor(name: str) -> dg.ExecutorDefinition:
    """The executor definition for a ``LAKEHOUSE_EXECUTOR`` value."""
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(CELERY_CONFIG, name="celery")
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    return dg.in_process_executor


def celery_app_args() -> dict:
    """The Celery app's arguments as the executor builds them (the broker URL from
    ``DAGSTER_CELERY_BROKER_URL``): what the workers must share with the runs."""
    from dagster_celery.executor import CeleryExecutor

    broker = dg.EnvVar(BROKER_ENV).get_value()
    if not broker:
        raise ValueError(f"Celery configuration: {BROKER_ENV} is not set (the broker's URL)")
    celery = CeleryExecutor.for_cli(
        broker=broker,
        backend=CELERY_CONFIG["backend"],
        config_source=CELERY_CONFIG["config_source"],
    )
    return {k: v for k, v in celery.app_args().items() if k != "retries"}

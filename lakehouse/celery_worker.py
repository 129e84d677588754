"""The Celery app a worker serves: ``celery -A lakehouse.celery_worker worker``. It is built from
the executor's own configuration (``lakehouse.components.executors``),
so runs and workers always agree."""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from lakehouse.components.executors import celery_app_args

app = make_app(celery_app_args())
execute_plan = create_task(app)

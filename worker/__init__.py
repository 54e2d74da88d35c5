"""Celery workers: join the job store (`app`) to the GAN (`models`). Nothing imports this but the
worker process itself."""

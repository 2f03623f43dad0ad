"""A load test of your own against a running service (``make serve`` first), headless and
bounded in users and time::

    .venv/bin/locust -f benchmarks/locustfile.py --headless -u 8 -r 8 -t 30s \\
        --host http://127.0.0.1:8000

(``make load`` runs exactly that.) Each user posts single flights from the service's own OpenAPI
example, varying the flight number, and now and then a 1,000-row batch. Set
``TABSTUDY_API_TOKEN`` if the service requires it.
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task

ROW = {"carrier": "UA", "flight": 1712, "tailnum": "N75425", "origin": "EWR", "dest": "IAH",
       "sched_dep": "2013-12-23T18:04:00", "sched_arr": "21:13"}  # fmt: skip
TOKEN = os.environ.get("TABSTUDY_API_TOKEN")


class Caller(HttpUser):
    """One client: mostly single flights, sometimes a batch."""

    wait_time = between(0.0, 0.01)

    def on_start(self) -> None:
        if TOKEN:
            self.client.headers["Authorization"] = f"Bearer {TOKEN}"

    @task(20)
    def one_flight(self) -> None:
        self.client.post("/v1/predict", json={**ROW, "flight": random.randint(1, 9999)})

    @task(1)
    def a_batch(self) -> None:
        self.client.post("/v1/predict/batch", json={k: [v] * 1000 for k, v in ROW.items()},
                         name="/v1/predict/batch (1,000 rows)")  # fmt: skip

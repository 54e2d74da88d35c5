"""`/metrics` is for admins (or a private scrape network); `/healthz` and `/readyz` stay open."""


def test_metrics_need_an_admin_key_unless_opened(api_with) -> None:  # noqa: ANN001
    with api_with() as api:
        assert api.client.get("/metrics").status_code == 401
        assert api.client.get("/metrics", headers=api.headers()).status_code == 403
        answer = api.client.get("/metrics", headers=api.headers(api.admin_key))
        assert answer.status_code == 200
        assert "atelier_jobs" in answer.text
        assert api.client.get("/healthz").status_code == 200  # probes stay open
    with api_with(metrics_public=True) as api:
        assert api.client.get("/metrics").status_code == 200

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self):
        # Per-route latency and active users: the access log calls every
        # registered observer after each request (digis.middleware).
        from analytics.recorder import observe_request
        from digis.middleware import request_observers

        if observe_request not in request_observers:
            request_observers.append(observe_request)

"""Settings for bench/realtime_live.py's daphne processes: the site's settings, with
the one thing a fan-out variant changes.

BENCH_DEFAULT_LAYER=pubsub makes channels_redis's RedisPubSubChannelLayer the
default channel layer (every socket's own channel and the per-stream group on
Redis pub/sub), the variant the issue asks to measure against a channels group
on the default RedisChannelLayer.
"""

import os

from digis.settings import *  # noqa: F401,F403
from digis.settings import CHANNEL_LAYERS, REDIS_URL

if os.environ.get("BENCH_DEFAULT_LAYER") == "pubsub":
    CHANNEL_LAYERS["default"] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL}], "prefix": "digis-bench"},
    }

"""A real redis-server for tests: on a free loopback port, its data in a temporary folder, ended by PID — never
the system service (../shared/TESTBED.md, "Redis"). The class lives in bench/lab/localredis.py, which
``make perf-lab`` uses too."""

from bench.lab.localredis import REDIS_SERVER, RedisServer, free_port, have_redis

__all__ = ["REDIS_SERVER", "RedisServer", "free_port", "have_redis"]

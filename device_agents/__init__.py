"""edgebench device agent.

Runs on the device. Speaks JSON in and JSON out, imports nothing from ``bench``, and needs only
the standard library, numpy and the runtime it drives. Must stay importable on Python 3.8.
"""

AGENT_VERSION = "0.1.0"
#: Version of the job/result JSON format exchanged with the host.
SCHEMA_VERSION = 1

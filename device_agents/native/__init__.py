"""Native mode, for phones without Python: the job becomes a command line for a vendor benchmark binary
(LiteRT ``benchmark_model``, ONNX Runtime ``onnxruntime_perf_test``) run beside a POSIX-sh telemetry
sampler; their outputs are parsed here into the agent's result schema. Standard library only, Python 3.8:
the host imports these modules (nothing runs Python on the phone in this mode)."""

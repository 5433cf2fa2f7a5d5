"""Runs one Lambda invocation in this process: ``python bootstrap.py CODE_DIR HANDLER EVENT RESULT CONTEXT``.

The handler's module is imported from CODE_DIR (as from /var/task); its result, or the exception it
raised, is written as JSON to RESULT. Whatever it prints goes to stdout and becomes the log.
"""

import importlib
import json
import sys
import time
import traceback


class LambdaContext:
    """The attributes and method Python handlers use on AWS Lambda's context object."""

    def __init__(self, facts, deadline_monotonic):
        self.function_name = facts["function_name"]
        self.function_version = facts["function_version"]
        self.invoked_function_arn = facts["invoked_function_arn"]
        self.memory_limit_in_mb = str(facts["memory_limit_in_mb"])
        self.aws_request_id = facts["aws_request_id"]
        self.log_group_name = facts["log_group_name"]
        self.log_stream_name = facts["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline_monotonic

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(code_dir, handler, event_path, result_path, context_json):
    facts = json.loads(context_json)
    context = LambdaContext(facts, time.monotonic() + float(facts["timeout_s"]))
    sys.path.insert(0, code_dir)
    with open(event_path) as stream:
        event = json.load(stream)
    try:
        module_name, _, function_name = handler.rpartition(".")
        function = getattr(importlib.import_module(module_name.replace("/", ".")), function_name)
        outcome = {"ok": True, "result": function(event, context)}
    except Exception as error:  # the function's own failure, reported as Lambda reports it
        outcome = {
            "ok": False,
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": facts["aws_request_id"],
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
        print(f"[ERROR] {type(error).__name__}: {error}", flush=True)
        traceback.print_exc(file=sys.stdout)
    sys.stdout.flush()
    with open(result_path, "w") as stream:
        json.dump(outcome, stream, default=str)


if __name__ == "__main__":
    main(*sys.argv[1:6])

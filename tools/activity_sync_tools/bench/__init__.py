"""``make bench``: what the service costs per activity, measured on the local stack against the
sandboxes, next to a naive one-call-per-record baseline and the goals of issue #8.

* :mod:`.workload` runs it: set-up, then the measured phases (HubSpot → Salesforce, Salesforce →
  HubSpot, a trickle and a burst of notes), each drained and polled once;
* :mod:`.measure` reads and subtracts the counters (vendor calls by route, AWS requests and
  DynamoDB units by caller, function CPU and GB-s);
* :mod:`.naive` is the baseline; :mod:`.prices` the AWS list prices; :mod:`.imports` the cold
  imports; :mod:`.report` the rows, the table and the JSON; :mod:`.cli` the entry point.

It is a benchmark, not a test: nothing here asserts a figure. See README, "Benchmarks".
"""

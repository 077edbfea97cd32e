import Testing

/// The suites that open the simulated runtime inside the test process. The runtime takes its NPU heap size and
/// its state folder from the process's environment, which is one for all tests, so these suites run one test at
/// a time, across all of them (each alone would only serialise its own tests).
@Suite(.serialized) enum InProcessRuntimeSuites {}

/// The runtime suite under its short name, as the other engine tests use it.
typealias SimRuntimeTests = InProcessRuntimeSuites.SimRuntimeTests

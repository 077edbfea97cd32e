import Testing

/// The one time limit tests carry. It catches a hang, not slowness: CI runs the whole suite on two cores in
/// about ten minutes, and a test that is slow there but getting on must never fail for it, so the limit is
/// longer than the whole run takes. How fast things are is measured by `make bench`, not here.
let hangGuardMinutes = 15

extension SuiteTrait where Self == TimeLimitTrait {
    static var hangGuard: Self { .timeLimit(.minutes(hangGuardMinutes)) }
}

extension TestTrait where Self == TimeLimitTrait {
    static var hangGuard: Self { .timeLimit(.minutes(hangGuardMinutes)) }
}

/// An error with a stable, machine-readable code: what scripts, fleet reports and `--json` output match on,
/// while the description stays free to improve its wording.
///
/// `errorCode` is snake_case and never changes meaning once released (docs/json-schemas.md lists them); it is
/// not called `code` because several errors already carry a `code` of their own (an HTTP status, an inventory
/// error's typed code).
/// `isRetryable` says whether the same step, tried again unchanged, may succeed (a lost link, a timeout, a
/// board that was busy) — as opposed to needing a change first (a refused key, a model that does not fit).
public protocol CodedError: Error {
    var errorCode: String { get }
    var isRetryable: Bool { get }
}

extension CodedError {
    public var isRetryable: Bool { false }
}

/// The code and retry advice of any error, coded or not, for the front ends and the fleet report.
public enum ErrorCode {
    /// For an error that has no code of its own (a Foundation error, a bug): only the message tells more.
    public static let uncoded = "error"

    /// `error`'s own code; `cancelled` for a task cancellation; else `fallback`.
    public static func of(_ error: Error, fallback: String = uncoded) -> String {
        if let coded = error as? CodedError { return coded.errorCode }
        if error is CancellationError { return "cancelled" }
        return fallback
    }

    /// Whether trying again unchanged may help; false for an error without a code.
    public static func isRetryable(_ error: Error) -> Bool {
        (error as? CodedError)?.isRetryable ?? false
    }
}

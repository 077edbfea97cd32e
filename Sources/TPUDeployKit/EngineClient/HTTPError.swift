import Foundation

/// Failures talking HTTP to the engine (through a port forward to the board's 127.0.0.1).
public enum HTTPError: Error, Equatable, CustomStringConvertible {
    case connect(host: String, port: Int, reason: String)
    case io(String)
    case timedOut(seconds: Double)
    case malformedResponse(String)
    /// The engine answered with an error status; `message` is its OpenAI-style error message when it sent one.
    case status(code: Int, message: String)
    case cancelled

    public var description: String {
        switch self {
        case .connect(let host, let port, let reason): return "cannot connect to \(host):\(port): \(reason)"
        case .io(let reason): return "connection to the engine failed: \(reason)"
        case .timedOut(let seconds): return "the engine did not answer within \(Int(seconds)) s"
        case .malformedResponse(let reason): return "the engine's answer is malformed: \(reason)"
        case .status(let code, let message): return "the engine answered \(code): \(message)"
        case .cancelled: return "cancelled"
        }
    }
}

extension HTTPError: CodedError {
    public var errorCode: String {
        switch self {
        case .connect: return "http_connect_failed"
        case .io: return "http_io"
        case .timedOut: return "http_timeout"
        case .malformedResponse: return "http_malformed"
        case .status: return "http_status"
        case .cancelled: return "cancelled"
        }
    }

    public var isRetryable: Bool {
        switch self {
        case .connect, .io, .timedOut: return true
        case .status(let code, _): return code == 503
        default: return false
        }
    }
}

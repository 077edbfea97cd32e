import Foundation

/// The token that board-to-board transfers of one rollout must prove they know. Random per rollout, given to
/// each relay agent on its standard input (never its command line), and never printed: its description is
/// redacted so that no log or event can show it.
public struct RolloutSecret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The token as the agents use it: 64 hex digits.
    let token: String

    /// A secret from `token`: 16 to 255 printable ASCII characters without spaces (the agent reads one line).
    public init?(token: String) {
        guard (16...255).contains(token.utf8.count), token.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return nil }
        self.token = token
    }

    /// 32 random bytes from the system's generator, as hex.
    public static func random() -> RolloutSecret {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return RolloutSecret(token: Digest.hex(bytes))!
    }

    public var description: String { "RolloutSecret(redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: []) }
}

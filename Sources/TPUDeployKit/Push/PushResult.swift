/// What a push did, encoded for `--json` (schema `tpudeploy.push/1`, docs/json-schemas.md).
public struct PushResult: Sendable, Codable, Equatable {
    public static let schemaName = "tpudeploy.push/1"

    public enum Status: String, Sendable, Codable {
        /// At least one file was sent.
        case pushed
        /// Every file was already on the board.
        case upToDate = "up_to_date"
        /// `--dry-run`: checked and planned only.
        case planned
    }

    public enum Action: String, Sendable, Codable {
        case skipped, uploaded, resumed
        /// `--dry-run`: would be sent.
        case wouldSend = "would_send"
    }

    public struct File: Sendable, Codable, Equatable {
        public var name: String
        public var role: PayloadRole
        public var sizeBytes: UInt64
        public var sha256: String
        public var remotePath: String
        public var action: Action
        /// Where sending started (bytes of a kept temporary file); 0 when sent whole.
        public var resumedFromBytes: UInt64
        public var bytesSent: UInt64
        /// Times the file was sent again after the board's hash did not match.
        public var resends: Int
        /// How the board's hash that let the file in was taken; nil when it was not sent.
        public var boardHash: PushScripts.BoardHashMethod?
    }

    public var schema = PushResult.schemaName
    public var status: Status
    public var target: String
    public var remoteDir: String
    public var arch: String?
    public var files: [File]
    public var bytesSent: UInt64
    public var seconds: Double
    public var bytesPerSecond: UInt64
    /// How the tokenizer was checked against the model.
    public var pairing: TokenizerPairing?
    public var warnings: [String]
}

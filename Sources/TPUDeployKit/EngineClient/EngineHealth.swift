import Foundation

/// The engine's `GET /health` answer (docs/engine-interface.md).
public struct EngineHealth: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case loading, ready, failed }
    public var status: Status
    public var reason: String?
    public var model: String?
    public var family: String?
    public var layers: Int?
    public var seqLen: Int?
    public var loadSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case status, reason, model, family, layers
        case seqLen = "seq_len"
        case loadSeconds = "load_seconds"
    }

    public init(status: Status, reason: String? = nil, model: String? = nil, family: String? = nil, layers: Int? = nil,
                seqLen: Int? = nil, loadSeconds: Double? = nil) {
        self.status = status
        self.reason = reason
        self.model = model
        self.family = family
        self.layers = layers
        self.seqLen = seqLen
        self.loadSeconds = loadSeconds
    }

    public static func decode(_ body: Data) throws -> EngineHealth {
        do {
            return try JSONDecoder().decode(EngineHealth.self, from: body)
        } catch {
            throw HTTPError.malformedResponse("/health: \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
    }

    /// True when the reason is the runtime running out of device memory: the fix is `fix-memory`, not a restart.
    public var isNPUMemoryShortage: Bool { reason.map(DeviceMemoryShortage.isReported(in:)) ?? false }
}

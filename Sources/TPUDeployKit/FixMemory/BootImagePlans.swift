import Foundation

/// One plan and rewritten boot image per distinct image, shared by the boards of a fleet rollout. Boards whose
/// `/boot/emmcboot.itb` has the same sha256 and that ask for the same layout (dtb, board profile, sizing) would
/// each read 30 MB and compute the same `BootImageEdit`: here the first of them does, and the others wait for it
/// and take its result. Each board still installs through the install script, which checks its own live image
/// against the key's sha256 and the uploaded image against the edit's before anything is renamed.
public final class BootImagePlans: @unchecked Sendable {
    /// What makes two boards' edits the same: the image's bytes (by sha256) and everything the planner is given.
    public struct Key: Hashable, Sendable {
        public var imageSHA256: String
        public var dtb: String
        public var boardProfile: String
        /// The sizing asked for (`LayoutSizing`'s value, in words: its heaps or the model's need and policy).
        public var sizing: String
        public var minimumLinuxMiB: UInt64

        public init(imageSHA256: String, dtb: String, boardProfile: String, sizing: LayoutSizing, minimumLinuxMiB: UInt64) {
            self.imageSHA256 = imageSHA256
            self.dtb = dtb
            self.boardProfile = boardProfile
            self.sizing = String(reflecting: sizing)
            self.minimumLinuxMiB = minimumLinuxMiB
        }
    }

    /// A planned edit and the sha256 of the new image it writes (nil when the image already has the layout).
    public struct Plan: Sendable {
        public var edit: BootImageEdit
        public var newImageSHA256: String?

        public init(edit: BootImageEdit) {
            self.edit = edit
            newImageSHA256 = edit.editedImage.map(sha256Hex)
        }
    }

    private let lock = NSLock()
    private var plans: [Key: Task<Plan, any Error>] = [:]
    private var computations = 0

    public init() {}

    /// How many plans were computed (not taken from another board's).
    public var plansComputed: Int { lock.withLock { computations } }

    /// The plan for `key`: the one another board computed or is computing, else `compute`'s. A computation that
    /// failed is forgotten (it may have been that board's link), and a board that was waiting for it computes its own.
    public func plan(for key: Key, compute: @escaping @Sendable () async throws -> Plan) async throws -> Plan {
        while true {
            let (task, mine) = lock.withLock { () -> (Task<Plan, any Error>, Bool) in
                if let known = plans[key] { return (known, false) }
                let task = Task { try await compute() }
                plans[key] = task
                computations += 1
                return (task, true)
            }
            do {
                return try await task.value
            } catch {
                lock.withLock { if plans[key] == task { plans[key] = nil } }
                if mine { throw error }
            }
        }
    }
}

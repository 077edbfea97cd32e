/// What `tpudeploy fix-memory` will do to a board dtb for a heap request: the layout before and after, the board's
/// limits, and the exact dtb edits. Made by `MemoryPlanner.plan`, performed by `MemoryPlanner.apply`.
public struct MemoryPlan: Sendable, Codable, Equatable {
    public var request: HeapRequest
    public var before: BoardMemoryLayout
    public var after: BoardMemoryLayout
    public var limits: LayoutLimits
    /// The edits in the order they are performed.
    public var changes: [LayoutChange]
    /// True when the dtb already has the requested layout (`changes` is empty).
    public var isNoChange: Bool

    public init(
        request: HeapRequest, before: BoardMemoryLayout, after: BoardMemoryLayout, limits: LayoutLimits,
        changes: [LayoutChange]
    ) {
        self.request = request
        self.before = before
        self.after = after
        self.limits = limits
        self.changes = changes
        self.isNoChange = changes.isEmpty
    }
}

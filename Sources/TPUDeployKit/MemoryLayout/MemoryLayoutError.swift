/// A board dtb's memory description could not be read.
public enum MemoryLayoutError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No `/memory` or `/memory@…` node.
    case noMemoryNode
    /// A node that needs `reg` (or `size`) has neither.
    case missingReg(path: String)
    /// `#address-cells`/`#size-cells` wider than 64 bits, or a `reg`/`size` whose length does not fit them.
    case malformedCells(path: String, property: String, reason: String)
    /// A heap region (`npu-region`, …) has no fixed address.
    case heapWithoutAddress(kind: IONHeapKind, path: String)
    /// Two regions claim the same heap.
    case duplicateHeap(kind: IONHeapKind, paths: [String])
    /// The dtb itself could not be read.
    case deviceTree(DeviceTreeError)

    public var description: String {
        switch self {
        case .noMemoryNode:
            return "the board dtb has no /memory node: it does not describe the board's DDR"
        case .missingReg(let path):
            return "the board dtb's \(path) has no reg (or size)"
        case .malformedCells(let path, let property, let reason):
            return "the board dtb's \(path) \(property) is malformed: \(reason)"
        case .heapWithoutAddress(let kind, let path):
            return "the board dtb's \(kind.rawValue) heap \(path) has no reg address"
        case .duplicateHeap(let kind, let paths):
            return "the board dtb has more than one \(kind.rawValue) heap: \(paths.joined(separator: ", "))"
        case .deviceTree(let error):
            return error.description
        }
    }
}

extension MemoryLayoutError: CodedError {
    public var errorCode: String {
        if case .deviceTree(let error) = self { return error.errorCode }
        return "memory_layout_invalid"
    }
}

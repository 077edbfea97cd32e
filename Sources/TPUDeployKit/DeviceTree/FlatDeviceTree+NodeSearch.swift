/// Finding nodes by what they are rather than where they are: the TPU and vdec nodes of a board dtb are found by
/// `compatible`, as the kernel's drivers find them, wherever the board's dts put them.
extension FlatDeviceTree {
    /// The path of every node at and below `root`, depth first in blob order (`root` first).
    public func nodePaths(under root: String = "/") throws -> [String] {
        var paths = [root]
        for name in try subnodeNames(of: root) {
            paths += try nodePaths(under: DeviceTreePath.child(name, of: root))
        }
        return paths
    }

    /// The paths of the nodes whose `compatible` list contains `compatible`, in blob order.
    public func nodePaths(compatibleWith compatible: String) throws -> [String] {
        try nodePaths().filter { try stringList("compatible", at: $0)?.contains(compatible) == true }
    }

    /// False when the node's `status` is set to anything but `okay`/`ok` (e.g. `disabled`): the kernel then
    /// ignores the node, including a `/reserved-memory` child.
    public func isEnabled(at path: String) throws -> Bool {
        guard let status = try string("status", at: path) else { return true }
        return status == "okay" || status == "ok"
    }

    /// Every phandle that some node of the tree carries, in blob order.
    public func allPhandles() throws -> [UInt32] {
        try nodePaths().compactMap { try phandle(of: $0) }
    }
}

/// Performs a plan's `LayoutChange`s on a dtb with `FlatDeviceTree`, in order.
enum LayoutEditor {
    static func perform(_ changes: [LayoutChange], on tree: inout FlatDeviceTree) throws {
        for change in changes {
            switch change {
            case .setReg(let path, _, let new):
                try tree.setReg(new, at: path)
            case .removeNode(let path):
                try tree.removeNode(at: path)
            case .setMemoryRegion(let path, _, let new):
                try tree.setU32Array("memory-region", to: new, at: path)
            case .addNode(let path, let contents):
                try add(path, contents, to: &tree)
            }
        }
    }

    private static func add(_ path: String, _ contents: LayoutChange.NodeContents, to tree: inout FlatDeviceTree) throws {
        let parent = DeviceTreePath.parent(of: path)
        let name = String(path.dropFirst(parent == "/" ? 1 : parent.count + 1))
        try tree.addNode(name, under: parent)
        // libfdt puts each new property first, so the properties are written last to first.
        if contents.disabled { try tree.setString("status", to: "disabled", at: path) }
        if let phandle = contents.phandle { try tree.setU32Array("phandle", to: [phandle], at: path) }
        if let regions = contents.memoryRegion { try tree.setU32Array("memory-region", to: regions, at: path) }
        if contents.noMap { try tree.setProperty("no-map", to: [], at: path) }
        if let reg = contents.reg { try tree.setReg(reg, at: path) }
        if let compatible = contents.compatible { try tree.setString("compatible", to: compatible, at: path) }
    }
}

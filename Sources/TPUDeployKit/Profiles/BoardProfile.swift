/// A kind of board (EVB, SE7, SM7, …): which dtbs identify it and what DDR it carries. Read from
/// `Profiles/boards/<name>.yaml`; adding a board is adding a file.
public struct BoardProfile: Sendable, Codable, Equatable {
    /// The name users type: `--board 1684x_evb`.
    public var name: String
    public var description: String
    /// The SoC, as bmodels name it ("BM1684X").
    public var chip: String
    /// Device tree blobs this board boots, as `/proc/device-tree/info/file-name` names them.
    public var dtbFileNames: [String]
    /// DDR sizes the board is sold with: "12g", "16g".
    public var ramSizes: [String]
    /// The file this profile was read from, for messages.
    public var sourceFile: String

    static let allowedRAMSizes = ["12g", "16g"]

    init(mapping: YAMLMapping) throws {
        try mapping.onlyKeys(["name", "description", "chip", "dtb_file_names", "ram"])
        name = try mapping.string("name")
        description = try mapping.string("description")
        chip = try mapping.choice("chip", from: ["BM1684X"])
        dtbFileNames = try mapping.stringList("dtb_file_names")
        if dtbFileNames.isEmpty { throw mapping.invalid("dtb_file_names", "needs at least one dtb file name") }
        for (index, file) in dtbFileNames.enumerated() where !file.hasSuffix(".dtb") {
            throw mapping.invalid("dtb_file_names[\(index)]", "'\(file)' should end in .dtb")
        }
        ramSizes = try mapping.stringList("ram")
        for (index, size) in ramSizes.enumerated() where !Self.allowedRAMSizes.contains(size) {
            throw mapping.invalid("ram[\(index)]", "'\(size)' is not one of: \(Self.allowedRAMSizes.joined(separator: ", "))")
        }
        sourceFile = mapping.file
    }

    /// Whether `dtbFileName` (with or without ".dtb") is one of this board's dtbs.
    public func boots(dtb dtbFileName: String) -> Bool {
        let wanted = dtbFileName.hasSuffix(".dtb") ? dtbFileName : dtbFileName + ".dtb"
        return dtbFileNames.contains(wanted)
    }
}

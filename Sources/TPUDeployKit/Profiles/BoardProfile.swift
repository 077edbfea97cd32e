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
    /// Linux must keep at least this much DDR after the heaps are carved out.
    public var minimumLinuxMiB: UInt64
    /// Named heap layouts for `fix-memory --preset NAME`.
    public var presets: [String: HeapSizes]
    /// How `fix-memory --for-model` sizes the heaps.
    public var modelPolicy: ModelLayoutPolicy
    /// The file this profile was read from, for messages.
    public var sourceFile: String

    static let allowedRAMSizes = ["12g", "16g"]

    init(mapping: YAMLMapping) throws {
        try mapping.onlyKeys(["name", "description", "chip", "dtb_file_names", "ram", "min_linux_mib", "presets", "for_model"])
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
        let minimum = try mapping.int("min_linux_mib")
        guard minimum > 0 else { throw mapping.invalid("min_linux_mib", "must be a positive number of MiB") }
        minimumLinuxMiB = UInt64(minimum)
        let presetMapping = try mapping.mapping("presets")
        var presets: [String: HeapSizes] = [:]
        for name in presetMapping.keys {
            presets[name] = try HeapSizes(mapping: presetMapping.mapping(name))
        }
        self.presets = presets
        modelPolicy = try ModelLayoutPolicy(mapping: mapping.mapping("for_model"))
        sourceFile = mapping.file
    }

    /// The preset `name`, or an error listing the presets this board has.
    public func preset(_ name: String) throws -> HeapSizes {
        guard let sizes = presets[name] else {
            throw ProfileError.unknownPreset(board: self.name, preset: name, known: presets.keys.sorted(), file: sourceFile)
        }
        return sizes
    }

    /// Whether `dtbFileName` (with or without ".dtb") is one of this board's dtbs.
    public func boots(dtb dtbFileName: String) -> Bool {
        let wanted = dtbFileName.hasSuffix(".dtb") ? dtbFileName : dtbFileName + ".dtb"
        return dtbFileNames.contains(wanted)
    }
}

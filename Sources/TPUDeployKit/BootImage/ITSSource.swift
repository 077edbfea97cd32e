/// The FIT source a boot image was compiled from (`/boot/multi.its`), read just far enough to tell whether it
/// belongs to a given `emmcboot.itb`: image names, descriptions, types, data files, hash algorithms and
/// configurations.
///
/// tpudeploy never recompiles the `.its`; it only checks it, so that `fix-memory --image X --its Y` refuses a
/// source that would rebuild a different image. What the check cannot see: the contents of the data files (the
/// kernel, ramdisk and dtb bytes — only a dtb's name is compared, with its `/info/file-name`), the file names of
/// non-dtb images (a FIT does not record them), properties other than those listed (arch, os, load, entry,
/// compression), a configuration's description and its second and later `fdt` entries, and the root description.
/// The reader is not dtc: no C preprocessor, `/include/`, `&label { }` overrides, `/delete-…/` or cell
/// arithmetic — such sources are refused with an `ITSSyntaxError`.
public struct ITSSource: Sendable, Equatable {
    /// One node under `/images`.
    public struct Image: Sendable, Equatable {
        /// The node name, e.g. `fdt-1`.
        public var name: String
        public var description: String?
        /// `kernel`, `ramdisk`, `flat_dt`, …
        public var type: String?
        /// The file named by `data = /incbin/("./file")`, as written; nil when the data is inline.
        public var dataFile: String?
        /// The `algo` of each `hash…` subnode, in order.
        public var hashAlgorithms: [String]
    }

    /// The root `description`.
    public var description: String?
    /// The children of `/images`, in source order.
    public var images: [Image]
    /// `/configurations/default`.
    public var defaultConfiguration: String?
    /// The children of `/configurations`, in source order.
    public var configurations: [FITConfiguration]

    /// Reads `.its` text; `fileName` names the file in error messages.
    public init(text: String, fileName: String = "multi.its") throws {
        let root = try DTSText.parse(text, fileName: fileName)
        func string(_ name: String, of node: DTSNode?) throws -> String? {
            guard let property = node?.property(name) else { return nil }
            guard case .string(let value)? = property.values.first else {
                throw ITSSyntaxError(fileName: fileName, line: property.line, reason: "`\(name)` is not a string")
            }
            return value
        }
        guard let imagesNode = root.child("images") else {
            throw ITSSyntaxError(fileName: fileName, line: root.line, reason: "there is no /images node: not a FIT source")
        }
        description = try string("description", of: root)
        images = try imagesNode.children.map { node in
            var dataFile: String?
            if case .incbin(let file)? = node.property("data")?.values.first { dataFile = file }
            return Image(
                name: node.name, description: try string("description", of: node), type: try string("type", of: node),
                dataFile: dataFile,
                hashAlgorithms: try node.children.filter { $0.name.hasPrefix("hash") }.map { try string("algo", of: $0) ?? "" })
        }
        let configurationsNode = root.child("configurations")
        defaultConfiguration = try string("default", of: configurationsNode)
        configurations = try (configurationsNode?.children ?? []).map { node in
            FITConfiguration(
                name: node.name, description: try string("description", of: node), kernel: try string("kernel", of: node),
                ramdisk: try string("ramdisk", of: node), fdt: try string("fdt", of: node))
        }
    }

    /// Throws `ITSMismatchError` naming the first difference between this source and `fit`: an image missing on
    /// either side or in another order, a different type, description or list of hash algorithms, a dtb image whose
    /// `/incbin/` file name is not its tree's `/info/file-name` (when the tree has one), or a different default
    /// configuration or configuration (kernel, ramdisk, first fdt). Reads the data of `fit`'s dtb images.
    public func check(against fit: FITImage) throws {
        let itsNames = images.map(\.name)
        let fitNames = fit.images.map(\.name)
        if let missing = itsNames.first(where: { !fitNames.contains($0) }) {
            throw ITSMismatchError.imageMissingFromFIT(image: missing)
        }
        if let missing = fitNames.first(where: { !itsNames.contains($0) }) {
            throw ITSMismatchError.imageMissingFromITS(image: missing)
        }
        guard itsNames == fitNames else { throw ITSMismatchError.imageOrderDiffers(its: itsNames, fit: fitNames) }

        for (source, image) in zip(images, fit.images) {
            if source.type != image.type {
                throw ITSMismatchError.imageTypeDiffers(image: image.name, its: source.type, fit: image.type)
            }
            if source.description != image.description {
                throw ITSMismatchError.imageDescriptionDiffers(image: image.name, its: source.description, fit: image.description)
            }
            let fitAlgorithms = image.hashes.map(\.algo)
            if source.hashAlgorithms != fitAlgorithms {
                throw ITSMismatchError.hashAlgorithmsDiffer(image: image.name, its: source.hashAlgorithms, fit: fitAlgorithms)
            }
            if image.isDeviceTree, let dataFile = source.dataFile, let fileName = try Self.dtbFileName(of: image, in: fit),
                !DTBName.same(Self.fileName(dataFile), fileName)
            {
                throw ITSMismatchError.dtbFileDiffers(image: image.name, its: dataFile, fit: fileName)
            }
        }

        if defaultConfiguration != fit.defaultConfiguration {
            throw ITSMismatchError.defaultConfigurationDiffers(its: defaultConfiguration, fit: fit.defaultConfiguration)
        }
        let fitConfigurations = fit.configurations.map(\.name)
        if let missing = configurations.first(where: { !fitConfigurations.contains($0.name) }) {
            throw ITSMismatchError.configurationMissingFromFIT(configuration: missing.name)
        }
        if let missing = fit.configurations.first(where: { configuration in
            !configurations.contains { $0.name == configuration.name }
        }) {
            throw ITSMismatchError.configurationMissingFromITS(configuration: missing.name)
        }
        for source in configurations {
            guard let built = fit.configurations.first(where: { $0.name == source.name }) else { continue }
            for (field, its, fit) in [
                ("kernel", source.kernel, built.kernel), ("ramdisk", source.ramdisk, built.ramdisk), ("fdt", source.fdt, built.fdt),
            ] where its != fit {
                throw ITSMismatchError.configurationDiffers(configuration: source.name, field: field, its: its, fit: fit)
            }
        }
    }

    /// The dtb's `/info/file-name`, or nil when it has none.
    private static func dtbFileName(of image: FITSubimage, in fit: FITImage) throws -> String? {
        let tree: FlatDeviceTree
        do { tree = try FlatDeviceTree(bytes: try fit.data(of: image)) } catch let error as DeviceTreeError {
            throw FITError.imageIsNotADeviceTree(image: image.name, reason: error.description)
        }
        guard tree.containsNode(at: "/info") else { return nil }
        return try tree.string("file-name", at: "/info")
    }

    /// `./dir/board.dtb` → `board.dtb`.
    private static func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}

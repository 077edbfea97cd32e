/// A U-Boot FIT boot image (`/boot/emmcboot.itb`): its images, configurations and signature state, learnt from
/// a `DeviceTreeIndex` so that only small values are read; image data is fetched on demand.
public struct FITImage: Sendable {
    /// The file the image was read from.
    public let source: any RandomAccessBytes
    /// Every node and property of the tree.
    public let index: DeviceTreeIndex
    /// The root `description`.
    public let description: String?
    /// The children of `/images`, in file order.
    public let images: [FITSubimage]
    /// `/configurations/default`.
    public let defaultConfiguration: String?
    /// The children of `/configurations`, in file order.
    public let configurations: [FITConfiguration]
    /// Paths of every `signature…` node (under a configuration or an image).
    public let signatureNodes: [String]

    /// True when any node is a `signature-N` node: the image cannot be changed without the signing key.
    public var isSigned: Bool { !signatureNodes.isEmpty }

    /// The file's size in bytes.
    public var fileSize: Int { source.count }

    /// Reads the image's structure from `source`.
    public init(source: any RandomAccessBytes) throws {
        let index = try DeviceTreeIndex(source: source)
        guard index.node(at: "/images") != nil else { throw FITError.noImages }
        self.source = source
        self.index = index
        description = try Self.string("description", of: index.node(at: "/"))
        images = try index.children(of: "/images").map { try Self.subimage($0, index: index, fileSize: source.count) }
        let configurationsNode = index.node(at: "/configurations")
        defaultConfiguration = try Self.string("default", of: configurationsNode)
        configurations = try index.children(of: "/configurations").map { node in
            FITConfiguration(
                name: node.name, description: try Self.string("description", of: node),
                kernel: try Self.string("kernel", of: node), ramdisk: try Self.string("ramdisk", of: node),
                fdt: try Self.string("fdt", of: node))
        }
        signatureNodes = index.nodes.filter { $0.name.hasPrefix("signature") }.map(\.path)
    }

    /// Reads an image held in memory.
    public init(bytes: [UInt8]) throws { try self.init(source: InMemoryBytes(bytes)) }

    /// The image named `name` under `/images`.
    public func image(named name: String) throws -> FITSubimage {
        guard let image = images.first(where: { $0.name == name }) else { throw FITError.imageNotFound(name: name) }
        return image
    }

    /// Throws `FITError.signed` when the image is signed: call before planning any change to it.
    public func requireUnsigned() throws {
        if isSigned { throw FITError.signed(signatureNodes: signatureNodes) }
    }

    /// The stored bytes of an image (as read by the index when small, else read from the source).
    public func data(of image: FITSubimage) throws -> [UInt8] {
        guard let location = image.data else { throw FITError.imageHasNoData(image: image.name) }
        if location.storage == .embedded,
            let value = index.node(at: "/images/" + image.name)?.property("data")?.value
        {
            return value
        }
        return try source.bytes(at: location.fileOffset, count: location.size)
    }

    /// Checks every `hash-N` of the image against its data; throws `FITError.hashMismatch` on the first
    /// difference. Reads the whole image data.
    public func verifyHashes(of image: FITSubimage) throws {
        guard !image.hashes.isEmpty else { return }
        let bytes = try data(of: image)
        for hash in image.hashes {
            guard let algorithm = FITHashAlgorithm(rawValue: hash.algo) else {
                throw FITError.unsupportedHashAlgorithm(image: image.name, hashNode: hash.nodeName, algorithm: hash.algo)
            }
            let computed = algorithm.digest(bytes)
            if computed != hash.value {
                throw FITError.hashMismatch(
                    image: image.name, hashNode: hash.nodeName, algorithm: hash.algo, stored: hash.hexValue,
                    computed: HexText.bytes(computed))
            }
        }
    }

    /// The board's dtb: the `flat_dt` image whose tree has `/info file-name` equal to `fileName`, else the one
    /// whose description is that name (compared as `DTBName` does: with or without `.dtb`/`.dts`, dots or
    /// underscores). Its hashes are checked.
    public func deviceTreeImage(forDTB fileName: String) throws -> (image: FITSubimage, tree: FlatDeviceTree) {
        let wanted = DTBName.key(fileName)
        var candidates: [(image: FITSubimage, tree: FlatDeviceTree, fileName: String?)] = []
        for image in images where image.isDeviceTree {
            let tree: FlatDeviceTree
            do { tree = try FlatDeviceTree(bytes: try data(of: image)) } catch let error as DeviceTreeError {
                throw FITError.imageIsNotADeviceTree(image: image.name, reason: error.description)
            }
            let infoName = tree.containsNode(at: "/info") ? try? tree.string("file-name", at: "/info") : nil
            candidates.append((image, tree, infoName))
        }
        let match =
            candidates.first { $0.fileName.map(DTBName.key) == wanted }
            ?? candidates.first { $0.image.description.map(DTBName.key) == wanted }
        guard let match else {
            throw FITError.deviceTreeNotFound(
                fileName: fileName,
                available: candidates.map { $0.fileName ?? $0.image.description ?? $0.image.name })
        }
        try verifyHashes(of: match.image)
        return (match.image, match.tree)
    }

    // MARK: Reading nodes

    private static func subimage(_ node: IndexedNode, index: DeviceTreeIndex, fileSize: Int) throws -> FITSubimage {
        let hashes = try index.children(of: node.path).filter { $0.name.hasPrefix("hash") }.map { hashNode in
            FITHash(
                nodeName: hashNode.name, algo: try string("algo", of: hashNode) ?? "",
                value: hashNode.property("value")?.value ?? [])
        }
        return FITSubimage(
            name: node.name, description: try string("description", of: node), type: try string("type", of: node),
            arch: try string("arch", of: node), os: try string("os", of: node),
            compression: try string("compression", of: node), load: try number("load", of: node),
            entry: try number("entry", of: node),
            data: try dataLocation(of: node, treeSize: index.totalSize, fileSize: fileSize), hashes: hashes)
    }

    private static func dataLocation(of node: IndexedNode, treeSize: Int, fileSize: Int) throws -> FITDataLocation? {
        if let data = node.property("data") {
            return FITDataLocation(storage: .embedded, fileOffset: data.valueOffset, size: data.length)
        }
        guard let size = try number("data-size", of: node) else { return nil }
        let location: FITDataLocation
        if let position = try number("data-position", of: node) {
            location = FITDataLocation(
                storage: .externalPosition, fileOffset: Int(clamping: position), size: Int(clamping: size))
        } else if let offset = try number("data-offset", of: node) {
            let treeEnd = (treeSize + 3) & ~3
            location = FITDataLocation(
                storage: .externalOffset, fileOffset: treeEnd + Int(clamping: min(offset, UInt64(UInt32.max) << 2)),
                size: Int(clamping: size))
        } else {
            return nil
        }
        guard location.fileOffset <= fileSize, location.size <= fileSize - location.fileOffset else {
            throw FITError.externalDataOutOfBounds(
                image: node.name, offset: location.fileOffset, size: location.size, fileBytes: fileSize)
        }
        return location
    }

    private static func string(_ name: String, of node: IndexedNode?) throws -> String? {
        guard let node, let property = node.property(name) else { return nil }
        guard let value = property.value, value.last == 0 else {
            throw FITError.malformedProperty(path: node.path, property: name, reason: "not a NUL-terminated string")
        }
        return String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// A 1- or 2-cell number (FIT `load`, `entry`, `data-size`, … are one cell, or two on 64-bit images).
    private static func number(_ name: String, of node: IndexedNode) throws -> UInt64? {
        guard let property = node.property(name) else { return nil }
        guard let value = property.value, value.count == 4 || value.count == 8 else {
            throw FITError.malformedProperty(
                path: node.path, property: name, reason: "\(property.length) bytes is not a 1- or 2-cell number")
        }
        return value.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

import Foundation

/// One checked change of a FIT image's stored bytes, planned from the image's index alone (it holds no reference
/// to the file) and then applied to the file's bytes: in place, or into one new buffer.
///
/// An embedded-data FIT is one tree the size of the file; its new bytes are the old ones with libfdt's `setprop`s
/// of the image's `data` and hash `value`s made where they lie, which moves only the tree after that property.
/// An external-data FIT has a small tree and its blobs after it; the tree is edited on its own and the file put
/// together anew by `FITExternalDataPlan`.
struct FITRewrite {
    let image: FITSubimage
    let data: [UInt8]
    /// Every hash node's new digest of `data`.
    let digests: [(node: String, value: [UInt8])]
    let plan: FITExternalDataPlan
    let treeSize: Int
    let fileSize: Int

    /// Computes every digest first: an unknown algorithm stops the rewrite before anything is changed.
    init(replacing image: FITSubimage, in fit: FITImage, with data: [UInt8]) throws {
        guard image.data != nil else { throw FITError.imageHasNoData(image: image.name) }
        digests = try image.hashes.map { hash in
            guard let algorithm = FITHashAlgorithm(rawValue: hash.algo) else {
                throw FITError.unsupportedHashAlgorithm(image: image.name, hashNode: hash.nodeName, algorithm: hash.algo)
            }
            return (hash.nodeName, algorithm.digest(data))
        }
        plan = try FITExternalDataPlan(fit: fit, replacing: image, newSize: data.count)
        self.image = image
        self.data = data
        treeSize = fit.index.totalSize
        fileSize = fit.source.count
    }

    /// Whether the whole file is one tree edited where it lies (no image keeps its data after the tree).
    private var editsInPlace: Bool { plan.addressing == .embedded && image.data?.storage == .embedded }

    /// The most the tree can grow: each property written anew with its name added to the strings block.
    private var growthBound: Int {
        let properties = [("data", data.count)] + digests.map { ("value", $0.value.count) }
        return properties.reduce(0) { $0 + 12 + FITExternalDataPlan.aligned($1.1) + $1.0.utf8.count + 1 + 8 }
    }

    /// The new file in a buffer of its own; `file` (the bytes the plan was made from) is left as it was.
    func applied(to file: [UInt8]) throws -> [UInt8] {
        guard file.count == fileSize else { throw FITRewriteError.verificationFailed(reason: "the file changed size since it was read") }
        guard editsInPlace else { return try rebuilt(from: file) }
        // Uninitialized capacity: the copy of the file is the only pass over the new buffer.
        var output = [UInt8](unsafeUninitializedCapacity: file.count + growthBound) { buffer, initialized in
            file.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
            initialized = file.count
        }
        try apply(to: &output)
        return output
    }

    /// Rewrites `file` (the bytes the plan was made from) in place. Nothing is copied when `file` holds the only
    /// reference to its buffer and has `growthBound` bytes of spare capacity; otherwise Swift copies it first, as
    /// for any array.
    func apply(to file: inout [UInt8]) throws {
        guard file.count == fileSize else { throw FITRewriteError.verificationFailed(reason: "the file changed size since it was read") }
        guard editsInPlace else {
            file = try rebuilt(from: file)
            return
        }
        // Bytes after the tree (none in what mkimage writes) make way for the tree's growth and follow it after.
        let trailing = fileSize - treeSize
        let room = treeSize + growthBound
        file.append(contentsOf: repeatElement(0, count: growthBound))
        let newSize = try file.withUnsafeMutableBytes { buffer -> Int in
            let base = buffer.baseAddress!
            if trailing > 0 { memmove(base + room, base + treeSize, trailing) }
            let tree = try InPlaceDeviceTree(opening: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<room]))
            let imagePath = "/images/" + image.name
            try tree.setProperty("data", to: data, at: imagePath)
            for digest in digests {
                try tree.setProperty("value", to: digest.value, at: imagePath + "/" + digest.node)
            }
            let size = try tree.finish()
            if trailing > 0 { memmove(base + size, base + room, trailing) }
            return size + trailing
        }
        file.removeLast(file.count - newSize)
    }

    /// The file put together anew: the tree edited on its own, then the data after it as the plan lays it out.
    private func rebuilt(from file: [UInt8]) throws -> [UInt8] {
        var tree = try FlatDeviceTree(bytes: file.count == treeSize ? file : Array(file[..<treeSize]))
        let freeSpace = tree.freeSpaceAtEnd
        let imagePath = "/images/" + image.name
        if image.data?.storage == .embedded {
            try tree.setProperty("data", to: data, at: imagePath)
        }
        for edit in try plan.treeEdits() {
            try tree.setProperty(edit.property, to: edit.value, at: "/images/" + edit.image)
        }
        for digest in digests {
            try tree.setProperty("value", to: digest.value, at: imagePath + "/" + digest.node)
        }
        // Same-size values are written in place; only a tree that changed size needs packing.
        if tree.totalSize != treeSize || tree.freeSpaceAtEnd != freeSpace {
            try tree.pack(leavingFreeSpace: freeSpace)
        }
        return try plan.assemble(tree: tree.bytes, originalFile: file, newData: data)
    }
}

/// Where the data after a FIT's tree goes when one image's data changes size, and how the new file is put together.
///
/// `mkimage -E` stores each image's data after the tree, 4-byte aligned, in image order: `data-offset` counts from
/// the end of the tree rounded up to 4 bytes (so a change of the tree's size moves every blob), `data-position`
/// (with `-p`) is absolute. The plan keeps every blob's bytes and every gap between blobs; only the replaced blob's
/// region (its data and alignment padding) changes length, and every blob after it moves by that difference.
struct FITExternalDataPlan {
    enum Addressing { case embedded, offset, position }

    struct Blob {
        var image: String
        var start: Int
        var size: Int
        /// `data-offset` or `data-position`, its value and its width in bytes (4 or 8).
        var property: String
        var value: UInt64
        var width: Int
        var sizeWidth: Int
    }

    /// One property change in the tree.
    struct TreeEdit {
        var image: String
        var property: String
        var value: [UInt8]
    }

    /// The replaced blob's old region (data plus alignment padding) and the length of its new one.
    struct Region {
        var start: Int
        var oldEnd: Int
        var newLength: Int
        var delta: Int { start + newLength - oldEnd }
    }

    let addressing: Addressing
    let treeSize: Int
    let blobs: [Blob]
    let replaced: Blob?
    let region: Region?
    let newSize: Int

    init(fit: FITImage, replacing image: FITSubimage, newSize: Int) throws {
        treeSize = fit.index.totalSize
        self.newSize = newSize
        var blobs: [Blob] = []
        for candidate in fit.images {
            guard let location = candidate.data, location.storage != .embedded,
                let node = fit.index.node(at: "/images/" + candidate.name)
            else { continue }
            let property = location.storage == .externalPosition ? "data-position" : "data-offset"
            guard let stored = node.property(property), let value = stored.value,
                let sizeWidth = node.property("data-size")?.length
            else { continue }
            blobs.append(
                Blob(
                    image: candidate.name, start: location.fileOffset, size: location.size, property: property,
                    value: value.reduce(0) { $0 << 8 | UInt64($1) }, width: value.count, sizeWidth: sizeWidth))
        }
        let offsetImages = blobs.filter { $0.property == "data-offset" }.map(\.image)
        let positionImages = blobs.filter { $0.property == "data-position" }.map(\.image)
        if !offsetImages.isEmpty && !positionImages.isEmpty {
            throw FITRewriteError.mixedExternalData(offsetImages: offsetImages, positionImages: positionImages)
        }
        addressing = blobs.isEmpty ? .embedded : positionImages.isEmpty ? .offset : .position
        self.blobs = blobs.sorted { $0.start < $1.start }

        guard let replaced = blobs.first(where: { $0.image == image.name }) else {
            self.replaced = nil
            region = nil
            return
        }
        let fileSize = fit.source.count
        let paddedEnd = replaced.start + Self.aligned(replaced.size)
        let oldEnd = min(paddedEnd, fileSize)
        for other in blobs where other.image != replaced.image {
            let disjoint = other.start + other.size <= replaced.start || other.start >= oldEnd
            if !disjoint || (other.size > 0 && other.start == replaced.start) {
                throw FITRewriteError.overlappingData(image: replaced.image, other: other.image)
            }
        }
        // A last blob stored without its alignment padding stays without it.
        let newLength = oldEnd == paddedEnd ? Self.aligned(newSize) : newSize
        self.replaced = replaced
        region = Region(start: replaced.start, oldEnd: oldEnd, newLength: newLength)
    }

    /// The replaced image's new `data-size` and the moved `data-offset`/`data-position` of every later blob.
    func treeEdits() throws -> [TreeEdit] {
        guard let replaced, let region else { return [] }
        var edits = [
            TreeEdit(
                image: replaced.image, property: "data-size",
                value: try Self.encode(newSize, width: replaced.sizeWidth, image: replaced.image, property: "data-size"))
        ]
        for blob in blobs where blob.image != replaced.image && blob.start >= region.oldEnd && region.delta != 0 {
            let moved = Int(clamping: blob.value) + region.delta
            edits.append(
                TreeEdit(
                    image: blob.image, property: blob.property,
                    value: try Self.encode(moved, width: blob.width, image: blob.image, property: blob.property)))
        }
        return edits
    }

    /// The new file: `tree`, then the data area of `originalFile` with the replaced region swapped for `newData`
    /// and its padding.
    func assemble(tree: [UInt8], originalFile file: [UInt8], newData: [UInt8]) throws -> [UInt8] {
        let areaStart: Int
        var output: [UInt8]
        switch addressing {
        case .embedded:
            guard file.count > treeSize else { return tree }
            output = tree
            output.append(contentsOf: file[treeSize...])
            return output
        case .offset:
            areaStart = min(Self.aligned(treeSize), file.count)
            output = tree
            output.append(contentsOf: repeatElement(0, count: Self.aligned(tree.count) - tree.count))
        case .position:
            areaStart = blobs.first?.start ?? file.count
            guard tree.count <= areaStart else {
                throw FITRewriteError.treeOverlapsExternalData(treeBytes: tree.count, firstDataPosition: areaStart)
            }
            output = tree
            output.append(contentsOf: repeatElement(0, count: areaStart - tree.count))
        }
        output.reserveCapacity(output.count + file.count - areaStart + (region?.delta ?? 0))
        if let region {
            output.append(contentsOf: file[areaStart..<region.start])
            output.append(contentsOf: newData)
            output.append(contentsOf: repeatElement(0, count: region.newLength - newData.count))
            output.append(contentsOf: file[region.oldEnd...])
        } else {
            output.append(contentsOf: file[areaStart...])
        }
        return output
    }

    static func aligned(_ size: Int) -> Int { (size + 3) & ~3 }

    private static func encode(_ value: Int, width: Int, image: String, property: String) throws -> [UInt8] {
        guard value >= 0, width == 8 || (width == 4 && value <= Int(UInt32.max)) else {
            throw FITRewriteError.valueTooLarge(image: image, property: property, value: value)
        }
        return (0..<width).reversed().map { UInt8(truncatingIfNeeded: UInt64(value) >> (8 * UInt64($0))) }
    }
}

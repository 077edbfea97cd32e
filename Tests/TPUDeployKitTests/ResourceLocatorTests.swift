import Foundation
import Testing
@testable import TPUDeployKit

/// One locator for Profiles, Payloads and board scripts: flag, variable, $TPUDEPLOY_HOME, checkout, installed.
@Suite("ResourceLocator")
struct ResourceLocatorTests {
    /// A scratch tree with a complete folder of every kind under each of `roots` (relative paths).
    final class Tree {
        let base: URL
        init() throws {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-locator-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: base) }
        func path(_ relative: String) -> String { base.appendingPathComponent(relative).path }

        /// Makes `relative` a complete folder of `kind` (its marker file present).
        func complete(_ kind: ResourceKind, at relative: String) throws {
            let marker = base.appendingPathComponent(relative).appendingPathComponent(kind.marker)
            try FileManager.default.createDirectory(at: marker.deletingLastPathComponent(), withIntermediateDirectories: true)
            if kind == .profiles {
                try FileManager.default.createDirectory(at: marker, withIntermediateDirectories: true)
            } else {
                #expect(FileManager.default.createFile(atPath: marker.path, contents: Data("x".utf8)))
            }
        }
    }

    @Test("an installed binary in PREFIX/bin finds PREFIX/share/tpudeploy, for every kind")
    func installedLayout() throws {
        let tree = try Tree()
        for kind in ResourceKind.allCases { try tree.complete(kind, at: "prefix/share/tpudeploy/\(kind.folderName)") }
        let locator = ResourceLocator(environment: [:], workingDirectory: tree.path("elsewhere"), executable: tree.path("prefix/bin/tpudeploy"), systemRoots: [])
        for kind in ResourceKind.allCases {
            let found = try locator.locate(kind).get()
            #expect(found.path == tree.path("prefix/share/tpudeploy/\(kind.folderName)"))
            #expect(found.origin == .installed)
        }
    }

    @Test("a checkout wins over the installed layout, TPUDEPLOY_HOME over both, TPUDEPLOY_PROFILES and the flag over all")
    func precedence() throws {
        let tree = try Tree()
        try tree.complete(.profiles, at: "prefix/share/tpudeploy/Profiles")
        try tree.complete(.profiles, at: "checkout/Profiles")
        try tree.complete(.profiles, at: "home/Profiles")
        try tree.complete(.profiles, at: "variable")
        try tree.complete(.profiles, at: "flag")
        let executable = tree.path("prefix/bin/tpudeploy")
        func found(_ environment: [String: String], flag: String? = nil) throws -> String {
            try ResourceLocator(environment: environment, workingDirectory: tree.path("checkout"), executable: executable, systemRoots: [])
                .locate(.profiles, explicit: flag).get().path
        }
        #expect(try found([:]) == tree.path("checkout/Profiles"))
        #expect(try found(["TPUDEPLOY_HOME": tree.path("home")]) == tree.path("home/Profiles"))
        #expect(try found(["TPUDEPLOY_HOME": tree.path("home"), "TPUDEPLOY_PROFILES": tree.path("variable")]) == tree.path("variable"))
        #expect(try found(["TPUDEPLOY_PROFILES": tree.path("variable")], flag: tree.path("flag")) == tree.path("flag"))
        let outside = try ResourceLocator(environment: [:], workingDirectory: tree.path("nowhere"), executable: executable, systemRoots: []).locate(.profiles).get()
        #expect(outside.path == tree.path("prefix/share/tpudeploy/Profiles"))
    }

    @Test("a checkout's board scripts are its Sources/TPUDeployKit/Resources/board-scripts; an incomplete folder is passed over")
    func checkoutBoardScriptsAndMarkers() throws {
        let tree = try Tree()
        try tree.complete(.boardScripts, at: "checkout/Sources/TPUDeployKit/Resources/board-scripts")
        try FileManager.default.createDirectory(atPath: tree.path("home/board-scripts"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tree.path("checkout/Payloads"), withIntermediateDirectories: true)
        let locator = ResourceLocator(environment: ["TPUDEPLOY_HOME": tree.path("home")], workingDirectory: tree.path("checkout"),
                                      executable: tree.path("checkout/.build/debug/tpudeploy"), systemRoots: [])
        #expect(try locator.locate(.boardScripts).get().path == tree.path("checkout/Sources/TPUDeployKit/Resources/board-scripts"))
        // The empty home folder and the checkout's Payloads without service files are both skipped, then named in the error.
        let payloads = locator.locate(.payloads)
        guard case .failure(let missing) = payloads else {
            Issue.record("an incomplete Payloads folder was accepted: \(payloads)")
            return
        }
        #expect(missing.searched.first == tree.path("home/Payloads"))
        #expect(missing.searched.contains(tree.path("checkout/Payloads")))
        #expect(missing.searched.last == tree.path("checkout/.build/share/tpudeploy/Payloads"))
    }

    @Test("ProfileStore's error names TPUDEPLOY_HOME and every place looked at")
    func profileErrorNamesPlaces() throws {
        let tree = try Tree()
        let locator = ResourceLocator(environment: ["TPUDEPLOY_HOME": tree.path("home")], workingDirectory: tree.path("w"),
                                      executable: tree.path("p/bin/tpudeploy"), systemRoots: [])
        let error = #expect(throws: ProfileError.self) { _ = try ProfileStore.locate(locator: locator) }
        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains("TPUDEPLOY_HOME"))
        #expect(text.contains(tree.path("home/Profiles")))
        #expect(text.contains(tree.path("p/share/tpudeploy/Profiles")))
    }

    @Test("the version's one definition is what the Makefile reads")
    func versionMatchesMakefile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/make")
        process.arguments = ["-s", "-C", root.path, "--eval", "print-version: ; @echo $(VERSION)", "print-version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == ToolVersion.number)
        #expect(ToolVersion.number.range(of: #"^[0-9]+\.[0-9]+\.[0-9]+$"#, options: .regularExpression) != nil)
    }
}

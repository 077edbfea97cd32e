import Foundation
import Testing
@testable import TPUDeployKit

/// The payload of a rollout is hashed once for the run: every board asking at once gets the one manifest, and
/// the bmodel's weights are checked in that same read, so no board's push reads the file again.
@Suite struct RolloutDeploymentTests {
    @Test func thePayloadIsHashedOnceAndItsWeightsVerdictIsRemembered() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tpd-payload-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bmodel = try CheckedBModelFixture.write("m", in: folder).path
        let tokenizer = folder.appendingPathComponent("tokenizer.model").path
        let engine = folder.appendingPathComponent("tpu-llm-engine").path
        // A tokenizer the local checks read and pair with the fixture's 8 vocabulary rows (a GPT-2 style
        // vocabulary; its kind is read from the content).
        try Data(#"{"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f": 5, "g": 6, "h": 7}"#.utf8).write(to: URL(fileURLWithPath: tokenizer))
        try Data("engine".utf8).write(to: URL(fileURLWithPath: engine))
        // The hash cache remembers no digest of a file changed within the last two seconds (it could still change).
        try await Task.sleep(for: .milliseconds(2100))
        let cache = LocalHashCache(file: folder.appendingPathComponent("hashes.json"))
        let deployment = try RolloutDeployment(reference: DeploymentReference(name: "m", remoteDir: "/data/tpudeploy/m", port: 8080, profile: nil),
                                               bmodel: bmodel, tokenizer: tokenizer, engine: .file(engine), hashCache: cache)
        let manifests = try await withThrowingTaskGroup(of: PayloadManifest.self) { group in
            for _ in 0..<4 { group.addTask { try await deployment.payload(forArch: "aarch64") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(manifests.map { $0.entries.map(\.sha256) }).count == 1)
        #expect(manifests[0].entries.map(\.name) == [URL(fileURLWithPath: bmodel).lastPathComponent, "tokenizer.model", "tpu-llm-engine"])
        // What a board's push finds: the digest and the weights' verdict, so it reads nothing of the bmodel.
        let identity = try LocalHashCache.FileIdentity(path: bmodel)
        #expect(cache.digest(of: bmodel, identity: identity) == manifests[0].entries[0].sha256)
        #expect(cache.coefficientsChecked(of: bmodel, identity: identity))
    }
}

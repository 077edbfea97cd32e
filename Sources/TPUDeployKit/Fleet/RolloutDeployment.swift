import Foundation

/// What every board of a rollout is brought to, resolved once before any board starts: the deployment (name,
/// directory, port, model profile), its local files, the model's memory need, and the payload's hashes (taken
/// once per board architecture, from the local hash cache when the files did not change).
public final class RolloutDeployment: @unchecked Sendable {
    public let reference: DeploymentReference
    public let bmodel: String
    public let tokenizer: String
    public let engine: EngineSource
    public let needs: ModelNeeds
    /// The bmodel's parsed header, for `fix-memory --for-model FILE` when no model profile is named.
    public let model: BModel
    private let hashCache: LocalHashCache?
    private let lock = NSLock()
    private var manifests: [String: PayloadManifest] = [:]

    public init(reference: DeploymentReference, bmodel: String, tokenizer: String, engine: EngineSource,
                hashCache: LocalHashCache? = LocalHashCache.forCurrentUser) throws {
        self.reference = reference
        self.bmodel = bmodel
        self.tokenizer = tokenizer
        self.engine = engine
        self.hashCache = hashCache
        // The checks push makes of the local files, once for the run: a wrong tokenizer is refused before any
        // board is touched, not by every board's push after the relay has sent it everywhere.
        let local = try LocalModelFiles(bmodel: bmodel, tokenizer: tokenizer, profile: reference.profile)
        model = try local.model ?? BModel(contentsOf: bmodel)
        needs = ModelNeeds(model: model, path: bmodel, profile: reference.profile)
    }

    /// How fix-memory is asked to make room for the model: its profile, else the bmodel file.
    public var layoutChoice: LayoutChoice {
        if let profile = reference.profile { return .model(profile) }
        return .modelFile(path: bmodel, model: model)
    }

    /// The files push would send to a board of `arch`, named as push names them on the board, with their
    /// sizes and hashes; hashed on first use for that architecture, then remembered for the run. The reads run
    /// on one queue of their own: boards asking at once wait for one hashing, and no pool thread blocks on disk.
    public func payload(forArch arch: String) async throws -> PayloadManifest {
        if let known = lock.withLock({ manifests[arch] }) { return known }
        return try await withCheckedThrowingContinuation { continuation in
            hashing.async { continuation.resume(with: Result { try self.buildPayload(forArch: arch) }) }
        }
    }

    private let hashing = DispatchQueue(label: "tpudeploy.rollout.payload-hashing")

    private func buildPayload(forArch arch: String) throws -> PayloadManifest {
        if let known = lock.withLock({ manifests[arch] }) { return known }
        // The bmodel's weights are checked against their check codes in the same read as its hash, as push
        // does: the verdict is remembered with the digest, so no board's push reads the file again for it.
        var sources: [PayloadManifest.Source] = [.init(path: bmodel, role: .bmodel, coefficients: CoefficientCheckPlan(model: model)),
                                                 .init(path: tokenizer, role: .tokenizer)]
        for companion in BytePairVocabulary.companionFiles(of: tokenizer) { sources.append(.init(path: companion, role: .support)) }
        if let path = try engine.path(forArch: arch) { sources.append(.init(path: path, role: .engine, remoteName: "tpu-llm-engine")) }
        let manifest = try PayloadManifest.build(sources, cache: hashCache)
        lock.withLock { manifests[arch] = manifest }
        return manifest
    }
}

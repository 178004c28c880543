/// A benchmark's name as package-benchmark registers it ("AES-256-GCM seal 1 KiB ×64 — envelope"), with
/// how many items (messages, headers, handshakes, records) one of its iterations does.
public struct BenchmarkName: Sendable, Hashable, CustomStringConvertible {
    /// The name given to `Benchmark(_:)`; package-benchmark's JMH export writes it with `_` for spaces.
    public let description: String
    /// Items one iteration does: a rate is `itemsPerIteration` over the iteration's wall-clock time.
    public let itemsPerIteration: Int

    public init(_ description: String, itemsPerIteration: Int) {
        self.description = description
        self.itemsPerIteration = itemsPerIteration
    }
}

/// The side of a benchmark, the last part of its name: SaMDKit or the reference it is compared with.
public enum BenchmarkSide: String, Sendable, CaseIterable {
    case envelope = "envelope"
    case rawEVP = "raw EVP"
    case rawLibsodium = "raw libsodium"
    case keyRotationJob = "KeyRotationJob"
    case subjectRekeyJob = "SubjectRekeyJob"
    case rawFloor = "raw floor"
    case synchronousFull = "synchronous FULL"
    case synchronousNormal = "synchronous NORMAL"
    case samdkit = "SaMDKit"
    case swiftNIOSSL = "swift-nio-ssl"
    case rawOpenSSLInMemory = "raw OpenSSL in memory"
    case fileCustody = "file custody"
    case tokenCustody = "token custody"
    case postgresStore = "PostgreSQL store"
    case rawPostgresNIO = "raw postgres-nio"
    case sqliteStore = "SQLite store"
    /// Where the PostgreSQL store's time goes (registered with `SAMD_BENCH_STORE_BREAKDOWN=1` only, in no row): the
    /// raw statements made from a thread pool's thread blocking on the connection pool, as the store makes its own;
    /// the store's own statements made directly.
    case blockingRawPostgresNIO = "raw postgres-nio from blocked threads"
    case storeStatements = "store statements on postgres-nio"
}

/// A record operation of the store benchmarks (a put is an upsert on the raw side, a get a select).
public enum RecordOperation: String, Sendable, CaseIterable {
    case put
    case get
}

/// How the store benchmarks issue their records: ``RecordSetShape/tasks`` tasks at once, each looping over its own
/// records (throughput), or one task, one record at a time (latency).
public enum RecordLoad: Sendable, Hashable, CaseIterable {
    case inFlight
    case oneAtATime
}

/// The envelope's two payload suites, as the AEAD benchmarks name them, with the raw AEAD each is compared
/// with.
public enum AEADSuiteName: String, Sendable, CaseIterable {
    case aes256GCM = "AES-256-GCM"
    case xChaCha20Poly1305 = "XChaCha20-Poly1305"

    /// Raw OpenSSL EVP for AES-256-GCM, raw libsodium for XChaCha20-Poly1305.
    public var raw: BenchmarkSide {
        switch self {
        case .aes256GCM: .rawEVP
        case .xChaCha20Poly1305: .rawLibsodium
        }
    }
}

public enum AEADOperation: String, Sendable, CaseIterable {
    case seal
    case open
}

/// The benchmarks' names, one function per family; the targets register these and bench-compare reads them.
extension BenchmarkPlan {
    /// "<suite> <operation> <size> ×<messages> — <side>": ``messagesPerIteration(_:)`` messages of `size` bytes.
    public func aead(_ suite: AEADSuiteName, _ operation: AEADOperation, size: Int, _ side: BenchmarkSide)
        -> BenchmarkName
    {
        let messages = Self.messagesPerIteration(size)
        return BenchmarkName(
            "\(suite.rawValue) \(operation.rawValue) \(Self.sizeLabel(size)) ×\(messages) — \(side.rawValue)",
            itemsPerIteration: messages)
    }

    /// One 1 KiB record sealed on raw EVP with its own key set-up and random nonce, per message.
    public var aeadOneShot: BenchmarkName {
        let messages = Self.messagesPerIteration(1024)
        return BenchmarkName("AES-256-GCM seal 1 KiB one-shot ×\(messages) — raw EVP", itemsPerIteration: messages)
    }

    /// ``streamByteCount`` bytes streamed in ``streamPieceByteCount`` pieces: one item of 64 MiB.
    public func stream(_ operation: AEADOperation, _ side: BenchmarkSide) -> BenchmarkName {
        BenchmarkName(
            "AES-256-GCM stream \(Self.sizeLabel(Self.streamByteCount)) ×1 \(operation.rawValue) — \(side.rawValue)",
            itemsPerIteration: 1)
    }

    /// ``rewrapHeaders`` record headers rewrapped: by `EnvelopeRewrapper` (a batch) or raw EVP, or
    /// `oneByOne` by `Envelope.rewrapHeader`.
    public func rewrap(_ side: BenchmarkSide, oneByOne: Bool = false) -> BenchmarkName {
        BenchmarkName(
            "Rewrap header\(oneByOne ? " one by one" : "") ×\(self.rewrapHeaders) — \(side.rawValue)",
            itemsPerIteration: self.rewrapHeaders)
    }

    /// One rotation of the ``rotation`` store: `KeyRotationJob` or its raw floor.
    public func rotation(_ side: BenchmarkSide) -> BenchmarkName {
        BenchmarkName("Rotate store \(self.rotation.label) ×1 — \(side.rawValue)", itemsPerIteration: 1)
    }

    /// One re-key of the ``rekey`` store, its records the items: `SubjectRekeyJob` or its raw floor.
    public func rekey(_ side: BenchmarkSide) -> BenchmarkName {
        BenchmarkName(
            "Rekey store \(self.rekey.label) ×\(self.rekey.records) — \(side.rawValue)",
            itemsPerIteration: self.rekey.records)
    }

    /// ``storePuts`` puts of a 1 KiB record, with SQLite's `synchronous = FULL` or `NORMAL`.
    public func storePut(_ side: BenchmarkSide) -> BenchmarkName {
        BenchmarkName("Store put 1 KiB ×\(self.storePuts) — \(side.rawValue)", itemsPerIteration: self.storePuts)
    }

    /// ``keySeals`` 1 KiB records sealed for one subject through a key store (subject sealing key, seal, the
    /// check that makes a record durable), its KEK in a passphrase file or a PKCS#11 token (SoftHSM2), with the
    /// subject-key cache.
    public func keySeal(_ side: BenchmarkSide) -> BenchmarkName {
        BenchmarkName("Key store seal 1 KiB ×\(self.keySeals) — \(side.rawValue)", itemsPerIteration: self.keySeals)
    }

    /// ``keySeals`` 1 KiB records sealed through a file-custody key store from `threads` threads at once, each for
    /// its own subject (the key-store work of a record store's put, without the database).
    public func concurrentKeySeals(threads: Int) -> BenchmarkName {
        BenchmarkName(
            "Key store seal 1 KiB ×\(self.keySeals) on \(threads) thread\(threads == 1 ? "" : "s") — file custody",
            itemsPerIteration: self.keySeals)
    }

    /// ``keySeals`` record-store puts of a 1 KiB record (synchronous NORMAL) from `threads` threads at once, each
    /// its own subject.
    public func concurrentPuts(threads: Int) -> BenchmarkName {
        BenchmarkName(
            "Store put 1 KiB ×\(self.keySeals) on \(threads) thread\(threads == 1 ? "" : "s") — file custody",
            itemsPerIteration: self.keySeals)
    }

    /// One iteration of the PostgreSQL store benchmarks: every task's ``RecordSetShape/recordsPerTask`` 1 KiB
    /// records put or got by ``RecordSetShape/tasks`` tasks at once (`inFlight`), or one task's, one at a time
    /// (`oneAtATime`): "Records put 1 KiB ×256 (8 in flight) — PostgreSQL store".
    public func records(_ operation: RecordOperation, _ load: RecordLoad, _ side: BenchmarkSide) -> BenchmarkName {
        let shape = self.recordSet
        let (count, label) =
            switch load {
            case .inFlight: (shape.tasks * shape.recordsPerTask, "\(shape.tasks) in flight")
            case .oneAtATime: (shape.recordsPerTask, "one at a time")
            }
        return BenchmarkName(
            "Records \(operation.rawValue) \(Self.sizeLabel(shape.recordByteCount)) ×\(count) (\(label)) — \(side.rawValue)",
            itemsPerIteration: count)
    }

    /// 10 000 records sealed for one subject with token custody; its figure is ``tokenOperationsMetric``.
    public var tokenOperations: BenchmarkName {
        BenchmarkName("Token operations per 10000 seals ×1 — token custody", itemsPerIteration: 1)
    }

    /// The custom metric of ``tokenOperations``: operations the custody ran in the token.
    public static let tokenOperationsMetric = "Token operations per 10000 seals"

    /// ``handshakes`` full TLS 1.3 mTLS handshakes (or `resumed` ones) on one stack.
    public func tlsHandshakes(_ side: BenchmarkSide, resumed: Bool = false) -> BenchmarkName {
        BenchmarkName(
            "TLS \(resumed ? "resumed" : "full") handshake ×\(self.handshakes) — \(side.rawValue)",
            itemsPerIteration: self.handshakes)
    }

    /// One connection's ``bulkBytes`` over loopback.
    public func tlsBulk(_ side: BenchmarkSide) -> BenchmarkName {
        BenchmarkName("TLS bulk \(Self.sizeLabel(self.bulkBytes)) ×1 — \(side.rawValue)", itemsPerIteration: 1)
    }

    /// Heap per idle connection with ``idleConnections`` open (its figure is a custom metric).
    public func tlsIdleMemory(_ side: BenchmarkSide) -> BenchmarkName {
        BenchmarkName(
            "TLS idle memory ×\(self.idleConnections) — \(side.rawValue)", itemsPerIteration: self.idleConnections)
    }

    /// The custom metric of ``tlsIdleMemory(_:)``: heap bytes per idle connection, both ends.
    public static let heapPerIdleConnectionMetric = "Heap per idle connection (bytes)"
}

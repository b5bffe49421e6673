import BookingCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import Prometheus
import Queue
import Testing
import Workers
@testable import evently_jobs

@Suite(.timeLimit(.minutes(5))) struct OpenAPIDocumentTests {
    /// Every route the server has is documented, and every documented operation exists.
    @Test func documentMatchesTheRouter() async throws {
        let logger = Logger(label: "openapi-test")
        let client = PostgresClient(configuration: .init(host: "localhost", username: "nobody", password: nil, database: nil, tls: .disable),
                                    backgroundLogger: logger)
        let live = LiveHub(client: client, settings: LiveSettings(), pricing: .standard, listenConnection: nil,
                           databaseTimeout: .seconds(5), logger: logger, metricsFactory: PrometheusMetricsFactory())
        let intake = HTTPIntake(client: client, migrator: DatabaseSchema.migrator(logger: logger), metrics: PrometheusCollectorRegistry(),
                                settings: .init(), booking: BookingSettings(), live: live, logger: logger)
        let router = await intake.makeRouter()
        let served = Set(router.routes.map { "\($0.method.rawValue.uppercased()) \($0.path.description)" })

        let document = try #require(try JSONSerialization.jsonObject(with: Data(PackageResources.openapi_json)) as? [String: Any])
        #expect(document["openapi"] as? String == "3.0.3")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, operations) in paths {
            for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") }
        }
        #expect(served.subtracting(documented).sorted() == [], "served but not documented")
        #expect(documented.subtracting(served).sorted() == [], "documented but not served")
        #expect(served.count > 25)
    }
}

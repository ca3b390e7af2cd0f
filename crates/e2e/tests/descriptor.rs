//! connector.xml declares exactly the parameters the component accepts,
//! plus the spending-budget and connection-pool ones the runtime takes for
//! itself.

use integrator::descriptor::Handler;

#[test]
fn descriptor_parameters_match_the_component() {
    let xml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../connector.xml"))
        .unwrap();
    let (descriptor, _) = integrator::descriptor::parse(&xml, "connector.xml").unwrap();
    assert_eq!(
        descriptor.operations.len(),
        twitter_connector::wso2::OPERATIONS.len()
    );
    for (name, params) in twitter_connector::wso2::OPERATIONS {
        let op = descriptor
            .operation(name)
            .unwrap_or_else(|| panic!("{name} missing from connector.xml"));
        let declared: Vec<&str> = op
            .parameters
            .iter()
            .filter(|p| p.handled_by == Handler::Component)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(&declared, params, "{name}");
        let runtime: Vec<&str> = op
            .parameters
            .iter()
            .filter(|p| p.handled_by == Handler::Runtime)
            .map(|p| p.name.as_str())
            .collect();
        let expected: Vec<&str> = if *name == "init" {
            [
                integrator::connections::BUDGET_PARAMETERS,
                integrator::connections::POOL_PARAMETERS,
            ]
            .concat()
        } else {
            Vec::new()
        };
        assert_eq!(runtime, expected, "{name}");
    }
    let required: Vec<(&str, &str)> = descriptor
        .operations
        .iter()
        .flat_map(|o| {
            o.parameters
                .iter()
                .filter(|p| p.required)
                .map(move |p| (o.name.as_str(), p.name.as_str()))
        })
        .collect();
    assert_eq!(required, vec![("init", "clientId"), ("deleteTweet", "id")]);
}

//! Cursor pagination exactly like Stripe's.

use std::collections::HashSet;

use crate::client::Api;

#[tokio::test]
async fn walking_250_objects_in_pages_of_100_loses_nothing() {
    // Arrange
    let api = Api::start().await;
    for i in 0..250 {
        let (status, _) = api.post("/v1/customers", &[("email", &format!("c{i}@example.com"))]).await;
        assert_eq!(status, 200);
    }

    // Act: forwards with starting_after.
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(id) => format!("/v1/customers?limit=100&starting_after={id}"),
            None => "/v1/customers?limit=100".to_owned(),
        };
        let (_, page) = api.get(&path).await;
        let data = page["data"].as_array().unwrap();
        pages.push((data.len(), page["has_more"].as_bool().unwrap()));
        seen.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
        cursor = data.last().map(|c| c["id"].as_str().unwrap().to_owned());
    }

    // Assert: 100 + 100 + 50, newest first, each object once.
    assert_eq!(pages, [(100, true), (100, true), (50, false)]);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 250);
    let (_, newest) = api.get("/v1/customers?limit=1").await;
    assert_eq!(newest["data"][0]["email"], "c249@example.com");
    assert_eq!(newest["url"], "/v1/customers");

    // Backwards from the oldest with ending_before gives the 100 just newer than it.
    let oldest = seen.last().unwrap();
    let (_, page) = api.get(&format!("/v1/customers?limit=100&ending_before={oldest}")).await;
    let back: Vec<_> =
        page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(back, seen[149..249]);
    assert_eq!(page["has_more"], true);

    let (status, body) = api.get("/v1/customers?limit=101").await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("limit")));
}

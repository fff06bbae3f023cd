//! A scripted browser for the connect and re-authorization flows: its own cookie (the flow
//! cookie, by hand), redirects read one by one instead of followed.

/// A browser: its own cookie jar (the flow cookie), redirects read one by one.
pub struct Browser {
    http: reqwest::Client,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// GETs `url`; remembers a `pb_oauth` cookie it is given; returns status and `Location`.
    pub async fn get(&mut self, url: &str) -> (u16, Option<String>, reqwest::header::HeaderMap) {
        let (status, location, headers, _) = self.send(self.http.get(url)).await;
        (status, location, headers)
    }

    /// GETs a page: status and body.
    pub async fn page(&mut self, url: &str) -> (u16, String) {
        let (status, _, _, body) = self.send(self.http.get(url)).await;
        (status, body)
    }

    /// Submits a form as this browser.
    pub async fn post(
        &mut self,
        url: &str,
        form: &[(String, String)],
    ) -> (u16, Option<String>, reqwest::header::HeaderMap) {
        let (status, location, headers, _) = self.send(self.http.post(url).form(form)).await;
        (status, location, headers)
    }

    /// Opens our connect link and presses `decision` (`continue` or `decline`) on the
    /// confirmation page; returns the answer to the form.
    pub async fn confirm(
        &mut self,
        start: &str,
        decision: &str,
    ) -> (u16, Option<String>, reqwest::header::HeaderMap) {
        let (status, page) = self.page(start).await;
        assert_eq!(status, 200, "the confirmation page: {page}");
        let form = ponto_bridge_cli::demo::confirmation_form(&page, decision)
            .unwrap_or_else(|| panic!("no form on {page}"));
        self.post(start.split('?').next().unwrap(), &form).await
    }

    async fn send(
        &mut self,
        mut req: reqwest::RequestBuilder,
    ) -> (u16, Option<String>, reqwest::header::HeaderMap, String) {
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("pb_oauth={c}"));
        }
        let resp = req.send().await.unwrap();
        let headers = resp.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok())
            && let Some(v) = set
                .strip_prefix("pb_oauth=")
                .and_then(|r| r.split(';').next())
        {
            self.cookie = (!v.is_empty()).then(|| v.to_owned());
        }
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = resp.status().as_u16();
        (
            status,
            location,
            headers,
            resp.text().await.unwrap_or_default(),
        )
    }
}

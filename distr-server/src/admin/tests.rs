//! The admin commands against an in-memory store.

use clap::Parser;
use distr_core::access::{AccessStore, MemoryAccessStore, PlainToken, TagSelection};
use serde_json::Value;

use super::{execute, AdminArgs, Output};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    admin: AdminArgs,
}

/// Runs `distr-server admin <args>`; returns (result, stdout, stderr).
async fn admin(store: &MemoryAccessStore, args: &str) -> (anyhow::Result<()>, String, String) {
    let cli = Cli::try_parse_from(std::iter::once("admin").chain(args.split_whitespace()))
        .unwrap_or_else(|e| panic!("{args}: {e}"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut output = Output::new(cli.admin.json, &mut out, &mut err);
    let result = execute(&cli.admin.command, store, &mut output, 1_700_000_000_000).await;
    (
        result,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

async fn ok(store: &MemoryAccessStore, args: &str) -> String {
    let (r, out, err) = admin(store, args).await;
    r.unwrap_or_else(|e| panic!("{args}: {e:#}\nstderr: {err}"));
    out
}

async fn fails(store: &MemoryAccessStore, args: &str) -> String {
    let (r, out, _) = admin(store, args).await;
    assert!(out.is_empty(), "{args}: printed {out}");
    format!("{:#}", r.expect_err(args))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn the_whole_tenancy_model_from_the_command_line() {
    let s = MemoryAccessStore::new();
    let out = ok(&s, "org create acme --name Acme").await;
    assert!(out.starts_with("created organisation acme (id "), "{out}");
    assert!(fails(&s, "org create acme")
        .await
        .contains("already exists"));
    assert!(fails(&s, "org create Bad/Slug").await.contains("slug"));
    let orgs = json(&ok(&s, "--json org list").await);
    assert_eq!(orgs[0]["slug"], "acme");
    assert_eq!(orgs[0]["name"], "Acme");

    assert!(fails(&s, "customer create --org nope a")
        .await
        .contains("unknown organisation \"nope\""));
    let a = json(&ok(&s, "customer create --org acme A --json").await);
    ok(&s, "customer create --org acme B").await;
    assert!(fails(&s, "customer create --org acme A")
        .await
        .contains("already has a customer named"));
    let listed = ok(&s, "customer list --org acme").await;
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains(a["id"].as_str().unwrap()));

    // Users: roles and customers must fit together.
    ok(
        &s,
        "user create --org acme --email Boss@Acme.test --role vendor_admin",
    )
    .await;
    assert!(fails(
        &s,
        "user create --org acme --email x@a.test --role customer_member"
    )
    .await
    .contains("needs --customer"));
    assert!(fails(
        &s,
        "user create --org acme --customer A --email x@a.test --role vendor_admin"
    )
    .await
    .contains("drop --customer"));
    let id = a["id"].as_str().unwrap();
    ok(
        &s,
        &format!("user create --org acme --customer {id} --email m@a.test --role customer-member"),
    )
    .await;
    assert!(fails(
        &s,
        "user create --org acme --customer A --email M@A.test --role customer_admin"
    )
    .await
    .contains("already has a user"));
    assert!(fails(
        &s,
        "user create --org acme --customer Z --email z@a.test --role customer_admin"
    )
    .await
    .contains("unknown customer \"Z\""));
    // (Everything here is created at the same instant, so listings, ordered
    // by creation time and then id, come in random order.)
    let users = json(&ok(&s, "user list --org acme --json").await);
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2);
    let by_email = |e: &str| users.iter().find(|u| u["email"] == e).unwrap().clone();
    assert_eq!(by_email("boss@acme.test")["role"], "vendor_admin");
    assert_eq!(by_email("m@a.test")["customer"], "A");
    assert_eq!(by_email("m@a.test")["role"], "customer_member");

    // Tokens: the secret goes to stdout alone, once.
    let (r, out, err) = admin(&s, "token create --org acme --email m@a.test --name ci").await;
    r.unwrap();
    let secret = out.trim();
    assert!(
        secret.starts_with("distr_") && out.lines().count() == 1,
        "{out}"
    );
    assert!(
        err.contains("shown only once") && !err.contains(secret),
        "{err}"
    );
    let (record, user) = s
        .find_token(&PlainToken::from_secret(secret).hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.email.as_str(), record.name.as_str()),
        ("m@a.test", "ci")
    );
    let t = json(
        &ok(
            &s,
            "token create --org acme --email m@a.test --expires-in-days 2 --json",
        )
        .await,
    );
    assert!(t["secret"].as_str().unwrap().starts_with("distr_"));
    assert_eq!(t["expires_at"], "2023-11-16T22:13:20Z");
    assert!(fails(&s, "token create --org acme --email nobody@a.test")
        .await
        .contains("unknown user"));
    let listed = ok(&s, "token list --org acme --email m@a.test").await;
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(!listed.contains(secret) && !listed.contains(&record.hash));
    let out = ok(&s, &format!("token revoke {}", record.id)).await;
    assert!(out.contains("revoked token"), "{out}");
    let listed = json(&ok(&s, "token list --org acme --email m@a.test --json").await);
    let status = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&record.id.to_string()), "revoked");
    assert_eq!(status(t["id"].as_str().unwrap()), "active");
    let unknown = distr_core::access::TokenId::new();
    assert!(fails(&s, &format!("token revoke {unknown}"))
        .await
        .contains("unknown token"));

    // Artifacts and entitlements.
    ok(&s, "artifact create --org acme app").await;
    ok(&s, "artifact create --org acme charts/web").await;
    assert!(fails(&s, "artifact create --org acme app")
        .await
        .contains("already has"));
    assert!(fails(&s, "artifact create --org acme Bad")
        .await
        .contains("not a valid"));
    let listed = ok(&s, "artifact list --org acme").await;
    assert!(
        listed.contains("acme/app") && listed.contains("acme/charts/web"),
        "{listed}"
    );
    assert!(fails(
        &s,
        "entitlement create --org acme --customer A --name x --artifact nope --tags all"
    )
    .await
    .contains("unknown artifact \"nope\""));
    // The repository name works too; the hint names the artifact.
    let e = fails(
        &s,
        "entitlement create --org acme --customer A --name x --artifact acme/nope --tags all",
    )
    .await;
    assert!(
        e.contains("unknown artifact \"acme/nope\"") && e.contains("--org acme nope`"),
        "{e}"
    );
    assert!(fails(
        &s,
        "entitlement create --org acme --customer A --name x --artifact app --tags bad^"
    )
    .await
    .contains("tag pattern"));
    let e = json(
        &ok(
            &s,
            "entitlement create --org acme --customer A --name patch --artifact app \
             --artifact acme/charts/web --tags 1.2.*,latest --json",
        )
        .await,
    );
    assert_eq!(e["items"][0]["artifact"], "app");
    assert_eq!(
        e["items"][1]["tags"],
        serde_json::json!(["1.2.*", "latest"])
    );
    assert!(fails(
        &s,
        "entitlement create --org acme --customer A --name patch --artifact app --tags all"
    )
    .await
    .contains("already has an entitlement named"));
    let (r, out, err) = admin(
        &s,
        "entitlement create --org acme --customer B --name old --artifact app --tags all \
         --expires-at 2020-01-01T00:00:00Z",
    )
    .await;
    r.unwrap();
    assert!(out.contains("status=expired"), "{out}");
    assert!(err.contains("already expired"), "{err}");
    let listed = ok(&s, "entitlement list --org acme --customer A").await;
    assert!(
        listed.contains("grants=app:1.2.*,latest charts/web:1.2.*,latest"),
        "{listed}"
    );
    let stored = s
        .list_entitlements(a["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    assert!(matches!(&stored[0].items[0].tags, TagSelection::Only(p) if p.len() == 2));
    let out = ok(
        &s,
        &format!("entitlement delete {}", e["id"].as_str().unwrap()),
    )
    .await;
    assert!(out.contains("deleted entitlement"), "{out}");
    let (r, out, err) = admin(&s, "entitlement list --org acme --customer A").await;
    r.unwrap();
    assert!(
        out.is_empty() && err.contains("no entitlements"),
        "{out} / {err}"
    );
    assert!(fails(
        &s,
        &format!("entitlement delete {}", e["id"].as_str().unwrap())
    )
    .await
    .contains("unknown entitlement"));
}

#[tokio::test]
async fn an_address_used_by_two_customers_must_be_told_apart() {
    let s = MemoryAccessStore::new();
    ok(&s, "org create acme").await;
    ok(&s, "customer create --org acme A").await;
    ok(&s, "customer create --org acme B").await;
    for c in ["A", "B"] {
        ok(
            &s,
            &format!(
                "user create --org acme --customer {c} --email ops@shared.test --role customer_member"
            ),
        )
        .await;
    }
    assert!(fails(
        &s,
        "user create --org acme --customer B --email ops@shared.test --role customer_admin"
    )
    .await
    .contains("customer \"B\" of acme already has a user"));
    // Ambiguous: the error names both customers and how to pick one.
    let err = fails(&s, "token create --org acme --email ops@shared.test").await;
    assert!(
        err.contains("2 users of acme")
            && err.contains("customer \"A\" (--customer ")
            && err.contains("customer \"B\" (--customer "),
        "{err}"
    );
    let t = json(
        &ok(
            &s,
            "token create --org acme --email ops@shared.test --customer B --json",
        )
        .await,
    );
    let users = s
        .list_users(s.list_orgs().await.unwrap()[0].id, None)
        .await
        .unwrap();
    let owner = users
        .iter()
        .find(|u| u.id.to_string() == t["user_id"].as_str().unwrap())
        .unwrap();
    let b = s
        .get_customer(owner.customer_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.name, "B");
    // The vendor's own user with the address is picked with --vendor.
    ok(
        &s,
        "user create --org acme --email ops@shared.test --role vendor_admin",
    )
    .await;
    let listed = json(
        &ok(
            &s,
            "token list --org acme --email ops@shared.test --vendor --json",
        )
        .await,
    );
    assert_eq!(listed, serde_json::json!([]));
    assert!(fails(&s, "token list --org acme --email ops@shared.test")
        .await
        .contains("the vendor itself (--vendor)"));
    assert!(fails(
        &s,
        "token list --org acme --email nobody@shared.test --customer A"
    )
    .await
    .contains("unknown user"));
}

#[tokio::test]
async fn the_access_mode_is_shown_and_set_from_the_command_line() {
    let s = MemoryAccessStore::new();
    ok(&s, "org create acme").await;
    let shown = json(&ok(&s, "org access-mode acme --json").await);
    assert_eq!(shown["access_mode"], "open");
    assert!(shown["changed_by"].is_null());
    let set = json(&ok(&s, "org access-mode acme entitled --json").await);
    assert_eq!(set["access_mode"], "entitled");
    assert_eq!(set["changed_by"], "cli");
    assert_eq!(set["changed_at"], "2023-11-14T22:13:20Z");
    let text = ok(&s, "org access-mode acme open").await;
    assert!(
        text.starts_with("acme  access_mode=open  changed="),
        "{text}"
    );
    assert!(text.trim_end().ends_with("by=cli"), "{text}");
    assert!(fails(&s, "org access-mode nope open")
        .await
        .contains("unknown organisation"));
    let (r, _, _) = admin(&s, "org access-mode acme").await;
    r.unwrap();
    assert!(Cli::try_parse_from(["admin", "org", "access-mode", "acme", "closed"]).is_err());
}

//! A [`StateStore`] on one DynamoDB table, shared by every machine that deploys (decision 008): the lock, the
//! records and the history of a team, with the core's lease and fence rules made atomic by DynamoDB's
//! conditional writes and transactions.
//!
//! The table has a string partition key `pk` and a string sort key `sk`:
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | an application's lock | `{prefix}lock#{application}` | `lock` | `lease` (JSON), `run`, `fence` |
//! | a record entry | `{prefix}record#{deployment}` | the sequence number, 20 digits | `entry` (JSON) |
//! | an application's history | `{prefix}app#{application}` | start time (20 digits) `#` deployment | `deployment` |
//!
//! - `lock` and `renew` read the lock, apply the core's rules (`take_lease`, `renew_lease`), and write only if
//!   the lock is still what they read (`lease = :read`, or absent): two machines taking a free or lapsed
//!   lock at once get one lease and one refusal.
//! - `append` is one transaction: the lock's `run` and `fence` must be the lease's, entry `n - 1` must exist
//!   and entry `n` must not; the first entry also lists the deployment in its application's history. A run
//!   that lost its lease cannot write; no entry is written twice.
//! - Every read is strongly consistent.

use crate::error::map_sdk;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use bluegreen_core::provider::{release_lease, renew_lease, take_lease};
use bluegreen_core::{
    DeploymentId, Lease, LockOwner, ProviderError, RecordEntry, StateStore, Timestamp,
};
use std::collections::HashMap;
use std::time::Duration;

/// How long [`DynamoStore::create_table`] waits for a new table to become active.
const TABLE_ACTIVE_WITHIN: Duration = Duration::from_secs(300);

/// Records and locks in a DynamoDB table (see the module's documentation for its layout).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    prefix: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::Invalid {
        message: message.into(),
    }
}

impl DynamoStore {
    /// A store in `table`, every key starting with `prefix` (several teams or environments can share a
    /// table).
    pub fn new(client: Client, table: impl Into<String>, prefix: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            prefix: prefix.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand billing; `pk` and `sk` strings; encrypted at rest, as every DynamoDB
    /// table is) and waits until it is active. For setup and tests; the CloudFormation example creates
    /// the same table.
    pub async fn create_table(&self) -> Result<(), ProviderError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| invalid(e.to_string()))
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| invalid(e.to_string()))
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| map_sdk("CreateTable", &self.resource(), e))?;
        // The SDK's own waiter (DynamoDB's `TableExists`: until the table is ACTIVE), not a loop of ours.
        use aws_sdk_dynamodb::client::Waiters;
        self.client
            .wait_until_table_exists()
            .table_name(&self.table)
            .wait(TABLE_ACTIVE_WITHIN)
            .await
            .map(|_| ())
            .map_err(|e| ProviderError::Unavailable {
                message: format!(
                    "{} did not become active within {} minutes: {}",
                    self.resource(),
                    TABLE_ACTIVE_WITHIN.as_secs() / 60,
                    crate::error::error_chain(&e)
                ),
            })
    }

    fn lock_key(&self, application: &str) -> Item {
        HashMap::from([
            ("pk".into(), s(format!("{}lock#{application}", self.prefix))),
            ("sk".into(), s("lock")),
        ])
    }

    fn record_pk(&self, deployment: &DeploymentId) -> String {
        format!("{}record#{deployment}", self.prefix)
    }

    fn entry_key(&self, deployment: &DeploymentId, seq: u64) -> Item {
        HashMap::from([
            ("pk".into(), s(self.record_pk(deployment))),
            ("sk".into(), s(format!("{seq:020}"))),
        ])
    }

    fn control_key(&self, deployment: &DeploymentId) -> Item {
        HashMap::from([
            (
                "pk".into(),
                s(format!("{}control#{deployment}", self.prefix)),
            ),
            ("sk".into(), s("control")),
        ])
    }

    /// Leaves `request` (opaque text, e.g. JSON) for deployment `deployment`, replacing any earlier one:
    /// how a command on one machine reaches a deployment running on another.
    pub async fn put_control(
        &self,
        deployment: &DeploymentId,
        request: &str,
    ) -> Result<(), ProviderError> {
        let mut item = self.control_key(deployment);
        item.insert("request".into(), s(request));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk("PutItem", &self.resource(), e))
    }

    /// The request left for `deployment`, if any.
    pub async fn get_control(
        &self,
        deployment: &DeploymentId,
    ) -> Result<Option<String>, ProviderError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.control_key(deployment)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk("GetItem", &self.resource(), e))?;
        Ok(match out.item.and_then(|mut i| i.remove("request")) {
            Some(AttributeValue::S(r)) => Some(r),
            _ => None,
        })
    }

    /// Removes the request left for `deployment`, if it is still `request` (a newer one, e.g. an abort
    /// sent meanwhile, stays).
    pub async fn take_control(
        &self,
        deployment: &DeploymentId,
        request: &str,
    ) -> Result<(), ProviderError> {
        match self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.control_key(deployment)))
            // `request` is one of DynamoDB's reserved words: it must be named through a placeholder.
            .condition_expression("#r = :r")
            .expression_attribute_names("#r", "request")
            .expression_attribute_values(":r", s(request))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(map_sdk("DeleteItem", &self.resource(), e)),
        }
    }

    /// Removes any request left for `deployment`.
    pub async fn clear_control(&self, deployment: &DeploymentId) -> Result<(), ProviderError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.control_key(deployment)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk("DeleteItem", &self.resource(), e))
    }

    /// Removes `application`'s lock whatever it holds (`unlock --force`, for a lock that cannot be read).
    pub async fn remove_lock(&self, application: &str) -> Result<(), ProviderError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.lock_key(application)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk("DeleteItem", &self.resource(), e))
    }

    fn resource(&self) -> String {
        format!("table {}", self.table)
    }

    /// The lock item as stored (its lease JSON too, for the compare-and-set).
    async fn read_lock(&self, application: &str) -> Result<Option<(Lease, String)>, ProviderError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.lock_key(application)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk("GetItem", &self.resource(), e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let json = match item.get("lease") {
            Some(AttributeValue::S(j)) => j.clone(),
            _ => return Err(invalid(format!("the lock of {application} has no lease"))),
        };
        let lease: Lease = serde_json::from_str(&json)
            .map_err(|e| invalid(format!("the lock of {application} is unreadable: {e}")))?;
        Ok(Some((lease, json)))
    }

    /// Writes `lease` as the lock if the lock is still `read` (its JSON), or absent when `read` is `None`.
    /// A lost race is a conflict naming the new holder.
    async fn swap_lock(&self, read: Option<&str>, lease: &Lease) -> Result<(), ProviderError> {
        let json = serde_json::to_string(lease).map_err(|e| invalid(e.to_string()))?;
        let mut item = self.lock_key(&lease.application);
        item.insert("lease".into(), s(json));
        item.insert("run".into(), s(&lease.owner.run));
        item.insert("fence".into(), AttributeValue::N(lease.fence.to_string()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = match read {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put
                .condition_expression("lease = :read")
                .expression_attribute_values(":read", s(old)),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                let now = self.read_lock(&lease.application).await?;
                Err(ProviderError::Conflict {
                    message: match now {
                        Some((held, _)) => {
                            format!("{} is locked: {held}", lease.application)
                        }
                        None => format!("the lock of {} changed meanwhile", lease.application),
                    },
                })
            }
            Err(e) => Err(map_sdk("PutItem", &self.resource(), e)),
        }
    }

    async fn delete_lock(&self, read: &str, application: &str) -> Result<(), ProviderError> {
        match self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.lock_key(application)))
            .condition_expression("lease = :read")
            .expression_attribute_values(":read", s(read))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(ProviderError::Conflict {
                message: format!("the lock of {application} changed meanwhile"),
            }),
            Err(e) => Err(map_sdk("DeleteItem", &self.resource(), e)),
        }
    }

    /// Every item of partition `pk`, in sort-key order, following pages.
    async fn query(&self, pk: String) -> Result<Vec<Item>, ProviderError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| map_sdk("Query", &self.resource(), e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}

/// Whether an SDK error is DynamoDB refusing a condition (of a put, a delete or a transaction).
fn is_condition_failure<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    e.as_service_error().is_some_and(|se| {
        matches!(
            se.code(),
            Some("ConditionalCheckFailedException" | "TransactionCanceledException")
        )
    })
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn append(
        &self,
        lease: &Lease,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        let json = serde_json::to_string(entry).map_err(|e| invalid(e.to_string()))?;
        let fence = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(self.lock_key(&lease.application)))
            .condition_expression("#run = :run AND fence = :fence")
            .expression_attribute_names("#run", "run")
            .expression_attribute_values(":run", s(&lease.owner.run))
            .expression_attribute_values(":fence", AttributeValue::N(lease.fence.to_string()))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let mut item = self.entry_key(deployment, entry.seq);
        item.insert("entry".into(), s(json));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let mut items = vec![
            TransactWriteItem::builder().condition_check(fence).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        if entry.seq > 0 {
            let previous = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(self.entry_key(deployment, entry.seq - 1)))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(|e| invalid(e.to_string()))?;
            items.push(
                TransactWriteItem::builder()
                    .condition_check(previous)
                    .build(),
            );
        } else {
            let mut listed: Item = HashMap::from([
                (
                    "pk".into(),
                    s(format!("{}app#{}", self.prefix, lease.application)),
                ),
                (
                    "sk".into(),
                    s(format!("{:020}#{deployment}", entry.at.as_millis())),
                ),
            ]);
            listed.insert("deployment".into(), s(deployment.as_str()));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(listed))
                .build()
                .map_err(|e| invalid(e.to_string()))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                // Which condition: the lease (lost), or the record's length (the entry exists already, or
                // one is missing before it).
                let current = self.read_lock(&lease.application).await?.map(|(l, _)| l);
                bluegreen_core::provider::ensure_current(current.as_ref(), lease)?;
                let have = self.query(self.record_pk(deployment)).await?.len();
                Err(ProviderError::Conflict {
                    message: format!(
                        "entry {} appended to {deployment}, whose record has {have} entries",
                        entry.seq
                    ),
                })
            }
            Err(e) => Err(map_sdk("TransactWriteItems", &self.resource(), e)),
        }
    }

    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError> {
        let items = self.query(self.record_pk(deployment)).await?;
        if items.is_empty() {
            return Err(ProviderError::NotFound {
                resource: format!(
                    "the record of deployment {deployment} in {}",
                    self.resource()
                ),
            });
        }
        items
            .iter()
            .map(|item| match item.get("entry") {
                Some(AttributeValue::S(j)) => serde_json::from_str(j)
                    .map_err(|e| invalid(format!("the record of {deployment} is damaged: {e}"))),
                _ => Err(invalid(format!(
                    "the record of {deployment} has an item without an entry"
                ))),
            })
            .collect()
    }

    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError> {
        let items = self
            .query(format!("{}app#{application}", self.prefix))
            .await?;
        items
            .iter()
            .filter_map(|item| match item.get("deployment") {
                Some(AttributeValue::S(d)) => {
                    Some(DeploymentId::new(d.as_str()).map_err(|e| invalid(e.to_string())))
                }
                _ => None,
            })
            .collect()
    }

    async fn lock(
        &self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        let read = self.read_lock(application).await?;
        let lease = take_lease(read.as_ref().map(|(l, _)| l), application, owner, now, ttl)?;
        self.swap_lock(read.as_ref().map(|(_, j)| j.as_str()), &lease)
            .await?;
        Ok(lease)
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        let read = self.read_lock(&lease.application).await?;
        let renewed = renew_lease(read.as_ref().map(|(l, _)| l), lease, now, ttl)?;
        self.swap_lock(read.as_ref().map(|(_, j)| j.as_str()), &renewed)
            .await?;
        Ok(renewed)
    }

    async fn unlock(&self, lease: &Lease) -> Result<(), ProviderError> {
        let read = self.read_lock(&lease.application).await?;
        if release_lease(read.as_ref().map(|(l, _)| l), lease)?
            && let Some((_, json)) = &read
        {
            self.delete_lock(json, &lease.application).await?;
        }
        Ok(())
    }

    async fn holder(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        Ok(self.read_lock(application).await?.map(|(l, _)| l))
    }
}

/// The shared table as the queue of control requests: `bluegreen promote` or `abort` on any machine reaches a
/// deployment that runs on another (one consistent read a second while it waits).
#[async_trait::async_trait]
impl bluegreen_store::ControlQueue for DynamoStore {
    async fn send(
        &self,
        id: &DeploymentId,
        control: &bluegreen_store::Control,
    ) -> Result<(), ProviderError> {
        let text = serde_json::to_string(control).map_err(|e| ProviderError::Invalid {
            message: e.to_string(),
        })?;
        self.put_control(id, &text).await
    }
    async fn received(&self, id: &DeploymentId) -> Option<bluegreen_store::Control> {
        serde_json::from_str(&self.get_control(id).await.ok()??).ok()
    }
    async fn consume(&self, id: &DeploymentId, control: &bluegreen_store::Control) {
        if let Ok(text) = serde_json::to_string(control) {
            // Best effort: a request left behind is removed when the deployment ends.
            let _ = self.take_control(id, &text).await;
        }
    }
    async fn clear(&self, id: &DeploymentId) {
        // Best effort, as for the file: a stale request is refused by the next control command.
        let _ = DynamoStore::clear_control(self, id).await;
    }
    fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
}

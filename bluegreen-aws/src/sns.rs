//! Publishing to an Amazon SNS topic: the AWS-native path for notifications (`[notify] sns`).

use crate::error::map_sdk;
use bluegreen_core::ProviderError;

/// Publishes messages to SNS topics. One `Publish` per message; no retry here (the caller's delivery
/// retries, on its clock).
#[derive(Clone, Debug)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
}

impl SnsPublisher {
    /// A publisher on `client`.
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        SnsPublisher { client }
    }

    /// Publishes `message` with `subject` (cut to SNS's 100 characters, on one line) to `topic` (its ARN);
    /// returns the message id. `class` is set as the `bluegreen.event` message attribute, for subscription
    /// filter policies.
    pub async fn publish(
        &self,
        topic: &str,
        subject: &str,
        message: &str,
        class: &str,
    ) -> Result<String, ProviderError> {
        let subject: String = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(100)
            .collect();
        let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(class)
            .build()
            .map_err(|e| ProviderError::Invalid {
                message: e.to_string(),
            })?;
        let out = self
            .client
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(message)
            .message_attributes("bluegreen.event", attribute)
            .send()
            .await
            .map_err(|e| map_sdk("Publish", topic, e))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

//! RDS on the query protocol (`POST /`, `Action=..`, XML answers): instances,
//! a promotion that really ends the replica, `StopDBInstance`, Aurora global
//! clusters with switchover/failover.

use std::collections::BTreeMap;

use wiremock::ResponseTemplate;

use super::{FakeGlobal, FakeInstance, FakeState, Handler};

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn query_ok(action: &str, inner: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/xml")
        .insert_header("x-amzn-requestid", format!("fake-{action}"))
        .set_body_string(format!(
            "<{action}Response xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\
             <{action}Result>{inner}</{action}Result>\
             <ResponseMetadata><RequestId>fake-{action}</RequestId></ResponseMetadata>\
             </{action}Response>"
        ))
}

pub(super) fn query_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "text/xml")
        .insert_header("x-amzn-requestid", format!("fake-request-{code}"))
        .set_body_string(format!(
            "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error>\
             <Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\
             <RequestId>fake-request-{code}</RequestId></ErrorResponse>",
            xml_escape(message)
        ))
}

fn instance_xml(id: &str, i: &FakeInstance, replicas: &[String]) -> String {
    let mut x = format!(
        "<DBInstance><DBInstanceIdentifier>{id}</DBInstanceIdentifier>\
         <DBInstanceArn>arn:aws:rds:us-east-1:123456789012:db:{id}</DBInstanceArn>\
         <Engine>postgres</Engine><DBInstanceStatus>{}</DBInstanceStatus>",
        i.status
    );
    if let Some(src) = &i.source {
        x.push_str(&format!(
            "<ReadReplicaSourceDBInstanceIdentifier>{src}</ReadReplicaSourceDBInstanceIdentifier>"
        ));
    }
    x.push_str("<ReadReplicaDBInstanceIdentifiers>");
    for r in replicas {
        x.push_str(&format!(
            "<ReadReplicaDBInstanceIdentifier>{r}</ReadReplicaDBInstanceIdentifier>"
        ));
    }
    x.push_str("</ReadReplicaDBInstanceIdentifiers>");
    if let Some(rep) = &i.replication {
        x.push_str(&format!(
            "<StatusInfos><DBInstanceStatusInfo><StatusType>read replication</StatusType>\
             <Normal>{}</Normal><Status>{rep}</Status></DBInstanceStatusInfo></StatusInfos>",
            rep == "replicating"
        ));
    }
    x.push_str("</DBInstance>");
    x
}

fn global_xml(id: &str, g: &FakeGlobal) -> String {
    let mut x = format!(
        "<GlobalClusterMember><GlobalClusterIdentifier>{id}</GlobalClusterIdentifier>\
         <Status>available</Status><Engine>aurora-postgresql</Engine><GlobalClusterMembers>"
    );
    for (arn, writer) in &g.members {
        x.push_str(&format!(
            "<GlobalClusterMember><DBClusterArn>{arn}</DBClusterArn><IsWriter>{writer}</IsWriter>\
             <SynchronizationStatus>connected</SynchronizationStatus></GlobalClusterMember>"
        ));
    }
    x.push_str("</GlobalClusterMembers>");
    if let Some((to, _, loss)) = &g.switching {
        let from = g
            .members
            .iter()
            .find(|m| m.1)
            .map(|m| m.0.clone())
            .unwrap_or_default();
        x.push_str(&format!(
            "<FailoverState><Status>failing-over</Status><FromDbClusterArn>{from}</FromDbClusterArn>\
             <ToDbClusterArn>{to}</ToDbClusterArn><IsDataLossAllowed>{loss}</IsDataLossAllowed></FailoverState>"
        ));
    }
    x.push_str("</GlobalClusterMember>");
    x
}

impl Handler {
    pub(super) fn rds(
        &self,
        s: &mut FakeState,
        action: &str,
        p: &BTreeMap<String, String>,
    ) -> ResponseTemplate {
        let id = p.get("DBInstanceIdentifier").cloned().unwrap_or_default();
        match action {
            "DescribeDBInstances" => {
                for i in s.instances.values_mut() {
                    if let Some(left) = i.promoting {
                        if left <= 1 {
                            i.promoting = None;
                            i.status = "available".into();
                            i.source = None;
                            i.replication = None;
                        } else {
                            i.promoting = Some(left - 1);
                        }
                    }
                }
                let Some(i) = s.instances.get(&id) else {
                    return query_error(
                        404,
                        "DBInstanceNotFound",
                        &format!("DBInstance {id} not found."),
                    );
                };
                let replicas: Vec<String> = s
                    .instances
                    .iter()
                    .filter(|(_, r)| r.source.as_deref() == Some(id.as_str()))
                    .map(|(k, _)| k.clone())
                    .collect();
                query_ok(
                    action,
                    &format!(
                        "<DBInstances>{}</DBInstances>",
                        instance_xml(&id, i, &replicas)
                    ),
                )
            }
            "PromoteReadReplica" => {
                let looks = s.looks_to_finish;
                let Some(i) = s.instances.get_mut(&id) else {
                    return query_error(
                        404,
                        "DBInstanceNotFound",
                        &format!("DBInstance {id} not found."),
                    );
                };
                if i.source.is_none() || i.status != "available" {
                    return query_error(
                        400,
                        "InvalidDBInstanceState",
                        &format!("DB Instance {id} is not a read replica."),
                    );
                }
                i.status = "modifying".into();
                i.promoting = Some(looks.max(1));
                let xml = instance_xml(&id, i, &[]);
                query_ok(action, &xml)
            }
            "StopDBInstance" => {
                let has_replicas = s
                    .instances
                    .values()
                    .any(|r| r.source.as_deref() == Some(id.as_str()));
                let Some(i) = s.instances.get_mut(&id) else {
                    return query_error(
                        404,
                        "DBInstanceNotFound",
                        &format!("DBInstance {id} not found."),
                    );
                };
                if has_replicas || i.source.is_some() {
                    return query_error(
                        400,
                        "InvalidDBInstanceState",
                        &format!("Cannot stop DB instance {id}: it has read replicas or is one."),
                    );
                }
                if i.status != "available" {
                    return query_error(
                        400,
                        "InvalidDBInstanceState",
                        &format!("Instance {id} is not in available state."),
                    );
                }
                i.status = "stopped".into();
                let xml = instance_xml(&id, i, &[]);
                query_ok(action, &xml)
            }
            "DescribeGlobalClusters" => {
                let gid = p
                    .get("GlobalClusterIdentifier")
                    .cloned()
                    .unwrap_or_default();
                let Some(g) = s.globals.get_mut(&gid) else {
                    return query_error(
                        404,
                        "GlobalClusterNotFoundFault",
                        &format!("Global cluster {gid} not found."),
                    );
                };
                if let Some((to, left, loss)) = g.switching.clone() {
                    if left <= 1 {
                        for m in g.members.iter_mut() {
                            m.1 = m.0 == to;
                        }
                        g.switching = None;
                    } else {
                        g.switching = Some((to, left - 1, loss));
                    }
                }
                query_ok(
                    action,
                    &format!("<GlobalClusters>{}</GlobalClusters>", global_xml(&gid, g)),
                )
            }
            "SwitchoverGlobalCluster" | "FailoverGlobalCluster" => {
                let looks = s.looks_to_finish;
                let gid = p
                    .get("GlobalClusterIdentifier")
                    .cloned()
                    .unwrap_or_default();
                let to = p
                    .get("TargetDbClusterIdentifier")
                    .cloned()
                    .unwrap_or_default();
                let loss = p.get("AllowDataLoss").map(String::as_str) == Some("true");
                let Some(g) = s.globals.get_mut(&gid) else {
                    return query_error(
                        404,
                        "GlobalClusterNotFoundFault",
                        &format!("Global cluster {gid} not found."),
                    );
                };
                if !g.members.iter().any(|m| m.0 == to) {
                    return query_error(
                        404,
                        "DBClusterNotFoundFault",
                        &format!("{to} is not a member."),
                    );
                }
                if g.switching.is_some() {
                    return query_error(
                        400,
                        "InvalidGlobalClusterStateFault",
                        "a switchover is already in progress",
                    );
                }
                g.switching = Some((to, looks.max(1), loss));
                let xml = global_xml(&gid, g).replace(
                    "GlobalClusterMember><GlobalClusterIdentifier",
                    "GlobalCluster><GlobalClusterIdentifier",
                );
                let xml = match xml.rfind("</GlobalClusterMember>") {
                    Some(pos) => format!("{}</GlobalCluster>", &xml[..pos]),
                    None => xml,
                };
                query_ok(action, &xml)
            }
            _ => query_error(400, "InvalidAction", &format!("the fake has no {action}")),
        }
    }
}

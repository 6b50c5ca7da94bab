#!/usr/bin/env python3
"""What the guide's `blue_green_traffic_manager.py` does to answer "where is traffic, and are both colors
healthy?" with boto3: find the load balancer by name, its listener, the target groups by name, the forward
weights, each color's target health and Auto Scaling capacity. Used by benches/status-latency.sh as the
reference `bluegreen status` is measured against.

    guide_status.py ENVIRONMENT APPLICATION        (AWS_ENDPOINT_URL, AWS_REGION and credentials from env)
"""
import os
import sys

import boto3

env, app = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=os.environ.get("AWS_ENDPOINT_URL"), region_name=os.environ.get("AWS_REGION", "us-east-1"))
elb = boto3.client("elbv2", **kw)
asg = boto3.client("autoscaling", **kw)
prefix = f"{env}-{app}"
lb = elb.describe_load_balancers(Names=[f"{prefix}-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
listener = elb.describe_listeners(LoadBalancerArn=lb)["Listeners"][0]
weights = {t["TargetGroupArn"]: t["Weight"] for t in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}
for color in ("blue", "green"):
    tg = elb.describe_target_groups(Names=[f"{prefix}-{color}-tg"])["TargetGroups"][0]["TargetGroupArn"]
    health = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    healthy = sum(1 for h in health if h["TargetHealth"]["State"] == "healthy")
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{prefix}-{color}-asg"])["AutoScalingGroups"][0]
    print(f"{color}: weight {weights.get(tg, 0)}%, {healthy}/{len(health)} healthy, desired {group['DesiredCapacity']}")
